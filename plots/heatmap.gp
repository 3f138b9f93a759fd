# heatmap.gp - neuron activations: tokens (rows) x neurons (columns),
# signed values on a diverging palette centred on zero.
# fp_data index 0: column, row, activation; index 1: column and neuron
# label; index 2: row and token text.
load fp_style
eval fp_diverging
unset grid
set key off
set cblabel "activation (mlp.hook\\_post)"
set cbrange [-fp_cbmax:fp_cbmax]
# the colour box with its scale and label, right of the grid
set colorbox
set rmargin 14
set xrange [-0.5:fp_ncols - 0.5]
set yrange [fp_nrows - 0.5:-0.5]
set xtics rotate by 60 right font ",5" noenhanced
set ytics font ",5" noenhanced
set xlabel "neuron (layer.index)"
plot fp_data index 0 using 1:2:3 with image pixels, \
     fp_data index 1 using 1:(NaN):xtic(2) notitle, \
     fp_data index 2 using (NaN):1:ytic(2) notitle
