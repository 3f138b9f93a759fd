# angles.gp - angles between vectors: density of all pairwise angles and of
# each vector's angle to its nearest neighbour, with the Welch bound (no N
# unit vectors in D dimensions can all be closer to 90 degrees) and the
# worst pair marked.
# fp_data: a header row, then bin centre (degrees), density of pairwise
# angles, density of nearest-neighbour angles.
load fp_style
set xlabel "angle (degrees)"
set ylabel "density"
set title fp_title noenhanced font ",7"
set key top left noenhanced autotitle columnheader
set style fill transparent solid 0.45 noborder
if (fp_welch > 0) set arrow 1 from fp_welch, graph 0 to fp_welch, graph 1 nohead dashtype 2 linecolor rgb "#000000"
if (fp_welch > 0) set label 1 sprintf("Welch bound %.2f°", fp_welch) at fp_welch, graph 0.95 left offset 0.5, 0 font ",6"
set arrow 2 from fp_worst, graph 0 to fp_worst, graph 0.8 nohead dashtype 3 linecolor rgb "#D55E00"
set label 2 sprintf("worst pair %.2f°", fp_worst) at fp_worst, graph 0.85 right offset -0.5, 0 font ",6" textcolor rgb "#D55E00"
plot fp_data using 1:2 with fillsteps linecolor rgb "#0072B2", \
     fp_data using 1:3 with fillsteps linecolor rgb "#D55E00"
