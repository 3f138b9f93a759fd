# lens.gp - the logit lens: layer (rows) x token position (columns), each
# cell the top token's text, coloured by its probability.
# fp_data index 0: position, row, probability, top token, label colour;
# index 1: position and token (x tick labels); index 2: row and layer label.
load fp_style
eval fp_viridis
set xlabel "input token"
set ylabel "layer (logit lens)"
set cblabel "p(top token)"
set cbrange [0:1]
# room right of the grid for the colour box, its tick labels and its label
set rmargin 14
set cbtics format "%.1f"
set xtics rotate by 45 right font ",6" noenhanced
set ytics font ",5" noenhanced
unset grid
set key off
set xrange [-0.5:fp_npos - 0.5]
set yrange [-0.5:fp_nrows - 0.5]
plot fp_data index 0 using 1:2:3 with image pixels, \
     fp_data index 0 using 1:2:4:5 with labels font ",4" noenhanced textcolor rgb variable, \
     fp_data index 1 using 1:(NaN):xtic(2) notitle, \
     fp_data index 2 using (NaN):1:ytic(2) notitle
