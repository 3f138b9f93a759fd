# trace.gp - causal traces as in ROME's figure: hidden state, MLP and
# attention panels side by side; tokens top to bottom, layers left to right,
# subject tokens marked with *.  The colour is p(answer) with the restoration
# (single prompt) or the mean indirect effect (a fact set).
# fp_data index k (k < fp_npanels): layer, row, value;
# index fp_npanels: row and its label.  fp_titles: the panels' names.
load fp_style
eval fp_viridis
unset grid
set key off
set xlabel "layer restored"
set cblabel fp_cblabel noenhanced offset -0.5
set yrange [fp_nrows - 0.5:-0.5]
set xrange [-0.5:fp_nlayers - 0.5]
set xtics 5 nomirror
set ytics font ",5" noenhanced
set cbrange [fp_cbmin:fp_cbmax]
set colorbox user origin graph 1.04, 0 size character 1, graph 1
set multiplot layout 1, fp_npanels margins 0.15, 0.90, 0.17, 0.88 spacing 0.03, 0
do for [k = 0:fp_npanels - 1] {
	set title word(fp_titles, k + 1) font ",7"
	if (k == fp_npanels - 1) { set colorbox } else { unset colorbox }
	if (k == 0) {
		plot fp_data index k using 1:2:3 with image pixels, \
		     fp_data index fp_npanels using (NaN):1:ytic(2) notitle
	} else {
		set ytics format ""
		plot fp_data index k using 1:2:3 with image pixels
	}
}
unset multiplot
