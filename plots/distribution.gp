# distribution.gp - one neuron's activation over a recorded prompt set:
# density histograms of the selected group and of the others.
# fp_data: a header row, then bin centre, density in the group, density of
# the rest.  fp_title names the neuron and the split.
load fp_style
set xlabel "activation"
set ylabel "density"
set title fp_title noenhanced font ",7"
set key top right noenhanced autotitle columnheader
set style fill transparent solid 0.45 noborder
plot fp_data using 1:3 with fillsteps linecolor rgb "#999999", \
     fp_data using 1:2 with fillsteps linecolor rgb "#D55E00"
