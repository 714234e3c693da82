#!/bin/sh
set -x
modprobe ip_vs 2>&1
ipvsadm -A -t 10.0.0.1:80 -s wlc
ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.2:80 -m -w 1
ipvsadm -a -t 10.0.0.1:80 -r 192.168.1.3:8080 -g -w 0 -x 100 -y 10
ipvsadm -A -u 10.0.0.2:53 -s sh -b sh-fallback,sh-port -p 300 -M 255.255.255.0
ipvsadm -a -u 10.0.0.2:53 -r 192.168.1.4:53 -i -w 5 --tun-type gue --tun-port 6080 --tun-csum
ipvsadm -A --sctp-service 10.0.0.3:9 -s rr -o
ipvsadm -A -t [2001:db8::1]:443 -s mh -b mh-port -p 60 -M 64
ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8:1::1]:443 -m -w 2
ipvsadm -A -f 7 -s wrr -b flag-1,flag-3
ipvsadm -a -f 7 -r 192.168.1.5:0 -g -w 3
ipvsadm -A -u 10.0.0.5:5060 -s lc -p 360 --pe sip
ipvsadm -A -f 7 -6 -s lc -p 360
ipvsadm -a -f 7 -6 -r [2001:db8:1::2]:0 -i -w 1 --tun-type gre --tun-nocsum
set +x
for opt in "" "--stats" "--stats --exact" "--rate" "--thresholds" "--persistent-conn" "--tun-info"; do
  echo "=====BEGIN $opt"
  ipvsadm -Ln $opt | sed 's/$/|/'
  echo "=====END"
done
echo "=====BEGIN save"
ipvsadm -S -n
echo "=====END"
