# angles.gp - angles between vectors, two panels on one angle axis: the
# density of all pairwise angles (top) and of each vector's angle to its
# nearest neighbour (bottom), with the Welch bound (no N unit vectors in D
# dimensions can all be closer to 90 degrees), the fourth-moment bound where it
# is the stronger one, and the worst pair marked.
# fp_data: a header row, then bin centre (degrees), density of pairwise
# angles, density of nearest-neighbour angles (bins where both are empty are
# left out).  fp_xmin, fp_xmax: the angle range shown.  fp_welch, fp_m4,
# fp_worst: the two bounds and the worst pair (degrees; a bound of 0 or 90 is
# not drawn).
load fp_style
fp_hscale = 1.3
set style fill transparent solid 0.5 noborder
set style textbox opaque noborder margins 0.5, 0.5
set xrange [fp_xmin:fp_xmax]
set key off
set multiplot layout 2, 1 title fp_title noenhanced font ",7" margins 0.14, 0.96, 0.14, 0.88 spacing 0, 0.10
set ylabel "density"
set format x ""
set label 11 "all pairs" at graph 0.02, graph 0.9 left font ",6"
if (fp_welch > 0 && fp_welch < 90) set arrow 1 from fp_welch, graph 0 to fp_welch, graph 1 nohead dashtype 2 linecolor rgb "#000000"
if (fp_welch > 0 && fp_welch < 90) set label 1 sprintf("Welch bound %.2f°", fp_welch) at fp_welch, graph 0.85 left offset 0.5, 0 font ",6" boxed front
if (fp_m4 > 0 && fp_m4 < fp_welch) set arrow 3 from fp_m4, graph 0 to fp_m4, graph 1 nohead dashtype 2 linecolor rgb "#777777"
if (fp_m4 > 0 && fp_m4 < fp_welch) set label 3 sprintf("4th-moment bound %.2f°", fp_m4) at fp_m4, graph 0.72 left offset 0.5, 0 font ",6" textcolor rgb "#555555" boxed front
set arrow 2 from fp_worst, graph 0 to fp_worst, graph 1 nohead dashtype 3 linecolor rgb "#D55E00"
set label 2 sprintf("worst pair %.2f°", fp_worst) at fp_worst, graph 0.6 left offset 0.5, 0 font ",6" textcolor rgb "#D55E00" front
plot fp_data using 1:2 with fillsteps linecolor rgb "#0072B2"
unset label 11
unset label 1
unset label 2
unset label 3
set label 12 "nearest neighbour" at graph 0.02, graph 0.9 left font ",6"
set format x "%g"
set xlabel "angle (degrees)"
plot fp_data using 1:3 with fillsteps linecolor rgb "#D55E00"
unset multiplot
