set terminal pngcairo size 1000,600 font "sans,11"
set output 'recovery-vs-burst.png'
set title "Recovery latency against burst length: burst:LEN,2000 on the WAN, 5000 pkt/s UDP, fixed (8,3,[1,10,100])"
set logscale xy
set xlabel "burst length (consecutive WAN packets lost)"
set ylabel "time from noticing a loss to rebuilding it (ms, log)"
set grid
set key top left
plot 'recovery-vs-burst.dat' using 1:2 with linespoints lw 2 title 'gateways: median', '' using 1:3 with linespoints lw 2 title 'gateways: p99',      '' using 1:4 with linespoints title 'gateways: mean (exact)', '' using 1:5 with linespoints dt 2 title 'simulate: median',      '' using 1:6 with linespoints dt 2 title 'simulate: p99',      '' using 1:7 with linespoints lw 2 dt 3 title 'block code 272+102 (same overhead), simulate: median',      '' using 1:8 with linespoints dt 3 title 'block code 272+102, simulate: p99'
