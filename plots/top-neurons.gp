# top-neurons.gp - the top neurons' scores, one bar per layer.neuron.
# fp_data: a header row, then rank, neuron (L.N) and score.
load fp_style
set ylabel fp_ylabel noenhanced
set title fp_title noenhanced font ",7"
set key off
set xtics rotate by 60 right font ",5" noenhanced
set grid ytics
set boxwidth 0.7
# bars start at zero: the axis always includes 0 (scores may be negative)
stats fp_data using 3 nooutput
fp_lo = STATS_min < 0 ? STATS_min : 0
fp_hi = STATS_max > 0 ? STATS_max : 0
fp_pad = fp_hi > fp_lo ? 0.05 * (fp_hi - fp_lo) : 1
set yrange [fp_lo - (fp_lo < 0 ? fp_pad : 0) : fp_hi + (fp_hi > 0 || fp_lo == 0 ? fp_pad : 0)]
set xzeroaxis linetype -1 linewidth 0.5
plot fp_data using 1:3:xtic(2) with boxes linecolor rgb "#0072B2"
