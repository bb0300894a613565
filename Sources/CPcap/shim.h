/* libpcap, for `maelstromd trace`: it reads tcpdump's pcap and pcapng files (pcap_open_offline). */
#include <pcap/pcap.h>
