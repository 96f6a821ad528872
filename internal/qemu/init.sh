#!/bin/sh
# PID 1 of the test guest: bring up the network, run the driver-loader as
# the DaemonSet's init container runs it (--mode container), say on the
# console what happened, power off. Every line the test reads starts with
# "e2e: ".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /var/cache
while read -r m; do
	insmod "$m" || echo "e2e: insmod $m failed"
done </etc/e2e/modules
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
# The service's answers name URLs on the host's loopback, which in here is
# the guest's own: forward those ports to the host.
while read -r port; do
	nc -ll -p "$port" -e nc 10.0.2.2 "$port" &
done </etc/e2e/forward
# network-online, as the loader's systemd unit is ordered after: e1000
# reports its link a few seconds after it is up.
for _ in $(seq 100); do
	[ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" = 1 ] && break
	sleep 0.1
done
echo "e2e: network $(cat /sys/class/net/eth0/operstate)"
echo "e2e: loader start"
driver-loader --mode container
echo "e2e: loader exit $?"
grep '^riptides ' /proc/modules | sed 's/^/e2e: module: /'
if [ -r /sys/module/riptides/parameters/version ]; then
	echo "e2e: version parameter value $(cat /sys/module/riptides/parameters/version)"
	echo "e2e: version parameter mode $(stat -c %a /sys/module/riptides/parameters/version)"
fi
dmesg | grep riptides | sed 's/^/e2e: kernel: /'
echo "e2e: done"
poweroff -f
