# dot.gp - per-layer dot product or cosine with a concept direction.
# fp_data: a header row, then layer and one column per series (a token
# position or a prompt set); with fp_band = 1 the columns are layer, mean, std.
# fp_title names the direction, fp_ylabel the quantity, fp_ncol the columns.
load fp_style
set xlabel "layer"
set ylabel fp_ylabel noenhanced
set title fp_title noenhanced font ",7"
set key top left noenhanced autotitle columnheader
if (fp_ncol > 7) set key outside right top font ",5" spacing 0.75 samplen 1.5 nobox
set xtics 5
set mxtics 5
if (fp_band) {
	plot fp_data using 1:($2 - $3):($2 + $3) with filledcurves fillcolor rgb "#0072B2" fillstyle transparent solid 0.2 title "± 1 std", \
	     fp_data using 1:2 with linespoints linetype 1 title "mean"
} else {
	plot for [i = 2:fp_ncol] fp_data using 1:i with linespoints linetype (i - 1)
}
