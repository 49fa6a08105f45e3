# Sourced by the live benchmarks: two namespaces joined by a veth pair,
# `wwcap` (no address: frames are dropped right after the taps, which keeps
# the sender's shared receive path cheap) in $NS_CAP and `wwsend`
# (10.99.0.2/24) in $NS_SEND, IPv6 off so nothing else is sent; removed when
# the script exits. Sets CAP_MAC and SEND_MAC, and defines mac() for
# trafgen configurations. Set NS_CAP and NS_SEND before sourcing.
cleanup() { ip netns del "$NS_CAP" 2>/dev/null || true; ip netns del "$NS_SEND" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$NS_CAP"
ip netns add "$NS_SEND"
ip link add wwcap netns "$NS_CAP" type veth peer name wwsend netns "$NS_SEND"
ip -n "$NS_SEND" addr add 10.99.0.2/24 dev wwsend
for ns in "$NS_CAP" "$NS_SEND"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6'
done
ip -n "$NS_CAP" link set wwcap up
ip -n "$NS_SEND" link set wwsend up
CAP_MAC=$(ip netns exec "$NS_CAP" cat /sys/class/net/wwcap/address)
SEND_MAC=$(ip netns exec "$NS_SEND" cat /sys/class/net/wwsend/address)
# A MAC address as trafgen bytes: 0xaa, 0xbb, …
mac() { echo "$1" | sed 's/^/0x/; s/:/, 0x/g'; }
