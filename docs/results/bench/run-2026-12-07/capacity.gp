set terminal pngcairo size 1000,600 font "sans,11"
set output 'capacity.png'
set title "Capacity: iperf3 cubic 10 s, no emulated delay or rate limit, 2 shared cores\n(under each bar: CPU seconds per Gbit carried, gwA/gwB)"
set bmargin 4
set style data histogram
set style fill solid 0.85 border -1
set boxwidth 0.6
set ylabel "goodput (Mbit/s)"
set yrange [0:*]
set grid ytics
unset key
plot 'capacity.dat' using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.0f", $2)) with labels offset 0,1 notitle
