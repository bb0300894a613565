set terminal pngcairo size 1000,600 font "sans,11"
set output 'goodput-vs-delay.png'
set title "Goodput against one-way delay: iperf3 reno, 100 Mbit/s, 0.1 % random loss each direction"
set xlabel "one-way delay (ms)"; set ylabel "goodput (Mbit/s)"; set grid; set yrange [0:*]
plot 'goodput-vs-delay.dat' using 1:2 with linespoints title 'plain, no loss', '' using 1:3 with linespoints title 'plain, 0.1 %',      '' using 1:4 with linespoints title 'Maelstrom default, 0.1 %', '' using 1:5 with linespoints title 'Maelstrom fixed, 0.1 %'
