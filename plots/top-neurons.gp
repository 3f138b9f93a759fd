# top-neurons.gp - the top neurons' scores, one bar per layer.neuron.
# fp_data: a header row, then rank, neuron (L.N) and score.
load fp_style
set ylabel fp_ylabel noenhanced
set title fp_title noenhanced font ",7"
set key off
set xtics rotate by 60 right font ",5" noenhanced
set grid ytics
set boxwidth 0.7
set yrange [*:*]
set xzeroaxis linetype -1 linewidth 0.5
plot fp_data using 1:3:xtic(2) with boxes linecolor rgb "#0072B2"
