# style.gp - the look every factprobe figure shares.  Each figure script
# loads it first.  factprobe passes (gnuplot -e):
#   fp_out   the output file          fp_term  pdf | png | svg | tex
#   fp_size  column (3.4 x 2.5 in, one column of a two-column paper),
#            page (7 x 2.8 in, the full text width), or "W,H" in inches
#   fp_data  the TSV written beside the figure (the numbers plotted)
# Restyle a figure by editing its script or this file and rerunning
#   gnuplot -e "fp_out='fig.pdf'; fp_term='pdf'; fp_size='column'; fp_data='fig.tsv'" plots/KIND.gp

if (!exists("fp_size")) fp_size = "column"
if (!exists("fp_term")) fp_term = "pdf"
if (fp_size eq "column") { fp_w = 3.4; fp_h = 2.5 } else { if (fp_size eq "page") { fp_w = 7.0; fp_h = 2.8 } else { fp_w = real(word(fp_size, 1)); fp_h = real(word(fp_size, 2)) } }
if (exists("fp_hscale")) fp_h = fp_h * fp_hscale

# terminals: vector PDF for papers, PNG (300 dpi) and SVG for the web,
# cairolatex when labels must be typeset by LaTeX (\input the .tex file)
if (fp_term eq "pdf") set terminal pdfcairo enhanced color font "Sans,7" size fp_w, fp_h linewidth 1.2 rounded
if (fp_term eq "png") set terminal pngcairo enhanced color font "Sans,7" size fp_w * 300, fp_h * 300 linewidth 1.2 rounded fontscale 2.6
if (fp_term eq "svg") set terminal svg enhanced font "Sans,9" size fp_w * 96, fp_h * 96 linewidth 1.2 rounded
if (fp_term eq "tex") set terminal cairolatex pdf color size fp_w, fp_h linewidth 1.2 rounded
set output fp_out
set encoding utf8

# axes: light grid behind the data, ticks out and only on the left and bottom
set border 3 front linewidth 0.8
set tics nomirror out scale 0.6
set grid back linecolor rgb "#dddddd" linewidth 0.5 dashtype solid
set key noautotitle box linecolor rgb "#cccccc" opaque samplen 2 spacing 1.1
set datafile separator "\t"
set datafile missing "nan"

# Okabe-Ito colour-blind-safe line colours
set linetype 1 linecolor rgb "#0072B2" pointtype 7 pointsize 0.4
set linetype 2 linecolor rgb "#D55E00" pointtype 5 pointsize 0.4
set linetype 3 linecolor rgb "#009E73" pointtype 9 pointsize 0.4
set linetype 4 linecolor rgb "#CC79A7" pointtype 11 pointsize 0.4
set linetype 5 linecolor rgb "#E69F00" pointtype 13 pointsize 0.4
set linetype 6 linecolor rgb "#56B4E9" pointtype 7 pointsize 0.4
set linetype 7 linecolor rgb "#000000" pointtype 5 pointsize 0.4
set linetype 8 linecolor rgb "#F0E442" pointtype 9 pointsize 0.4
set linetype cycle 8

# palettes: viridis for magnitudes, a blue-white-red diverging one (ColorBrewer
# RdBu) for signed values centred on zero
fp_viridis = "set palette defined (0 '#440154', 0.125 '#472c7a', 0.25 '#3b518b', 0.375 '#2c718e', 0.5 '#21908d', 0.625 '#27ad81', 0.75 '#5cc863', 0.875 '#aadc32', 1 '#fde725')"
fp_diverging = "set palette defined (0 '#2166ac', 0.25 '#67a9cf', 0.5 '#f7f7f7', 0.75 '#ef8a62', 1 '#b2182b')"
set style fill solid 0.85 noborder
set colorbox user origin graph 1.03, 0 size character 1.2, graph 1
