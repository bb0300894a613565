set terminal pngcairo size 1000,600 font "sans,11"
set output 'goodput-reno-100M-25ms.png'
set title "Goodput against loss: iperf3 reno, 100 Mbit/s, 25 ms one way (RTT 50 ms), ratio to plain TCP loss-free in the same run"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:1.25]
set ytics 0.1
set grid ytics
set ylabel "goodput / plain loss-free goodput"
set xlabel "loss model (each direction)"
set key top right
set arrow from graph 0, first 0.9 to graph 1, first 0.9 nohead dt 2 lc rgb "gray40"
plot 'goodput-reno-100M-25ms.dat' using 2:xtic(1) title 'plain TCP', '' using 3 title 'Maelstrom default (adaptive)', '' using 4 title 'Maelstrom fixed (8,3,[1,10,100])', '' using 5 title 'single-layer XOR (8,1,[1])', '' using 6 title 'kcptun (RS 10+3, fast)'
