set terminal pngcairo size 1000,600 font "sans,11"
set output 'latency-ccdf.png'
set title "Delivery latency, 1,000 msg/s of 200 B over one TCP connection (cubic), 25 ms one way (first second left out)\nfraction of messages later than x"
set logscale xy
set xlabel "latency above the one-way delay (ms, log)"
set ylabel "fraction of messages later (log)"
set yrange [0.0001:1.1]
set grid
set key bottom left
plot 'latency-cdf-none-plain.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 1 dt 3 lc rgb '#cc3311' title 'plain TCP, none', 'latency-cdf-none-maelstrom.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 1 dt 3 lc rgb '#0077bb' title 'Maelstrom default (adaptive), none', 'latency-cdf-bernoulli_0.001-plain.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 2 dt 2 lc rgb '#cc3311' title 'plain TCP, bernoulli:0.001', 'latency-cdf-bernoulli_0.001-maelstrom.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 2 dt 2 lc rgb '#0077bb' title 'Maelstrom default (adaptive), bernoulli:0.001', 'latency-cdf-bernoulli_0.01-plain.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 3 dt 1 lc rgb '#cc3311' title 'plain TCP, bernoulli:0.01', 'latency-cdf-bernoulli_0.01-maelstrom.dat' using ($1 < 0.01 ? 0.01 : $1):(1.0001 - $2) with lines lw 3 dt 1 lc rgb '#0077bb' title 'Maelstrom default (adaptive), bernoulli:0.01'
