// libyaml (Debian's libyaml-dev): the config reader drives its event parser
// (Sources/TandemCore/Config/YAMLDocument.swift).
#include <yaml.h>
