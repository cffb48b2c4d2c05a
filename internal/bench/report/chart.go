package report

import (
	"fmt"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// WriteChart draws latency.png: one panel per program, and in each, per
// method, bars for p50, p95 and p99 on a logarithmic millisecond axis (the
// methods differ by orders of magnitude).
func (r *Report) WriteChart(w io.Writer) error {
	var plots []*plot.Plot
	for _, p := range r.Programs {
		if pl := r.programPlot(p.Name); pl != nil {
			plots = append(plots, pl)
		}
	}
	if len(plots) == 0 {
		pl := plot.New()
		pl.Title.Text = "no samples"
		plots = append(plots, pl)
	}
	const panelW, panelH = 300, 300
	img := vgimg.New(vg.Points(panelW*float64(len(plots))), vg.Points(panelH))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, pl := range plots {
		pl.Draw(canvases[0][i])
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}

// programPlot is the panel of one program, or nil when it has no samples.
func (r *Report) programPlot(program string) *plot.Plot {
	var methods []string
	var series [3]plotter.Values
	lo, hi := math.Inf(1), 0.0
	for _, m := range r.Methods {
		res := r.Result(program, m)
		if res == nil || res.Latency.N == 0 {
			continue
		}
		methods = append(methods, m)
		for i, v := range []float64{res.Latency.P50, res.Latency.P95, res.Latency.P99} {
			v = max(v, 0.01) // a log axis has no zero
			series[i] = append(series[i], v)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	if len(methods) == 0 {
		return nil
	}
	pl := plot.New()
	pl.Title.Text = program
	pl.Y.Label.Text = "ms (log scale)"
	pl.Legend.Top = true
	pl.Legend.Left = true
	pl.Add(plotter.NewGrid())
	width := vg.Points(14)
	for i, name := range []string{"p50", "p95", "p99"} {
		bars, err := plotter.NewBarChart(series[i], width)
		if err != nil {
			return nil // only for negative or NaN values, which Summarize never gives
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(i-1)
		pl.Add(bars)
		pl.Legend.Add(name, bars)
	}
	pl.NominalX(methods...)
	// The bars start at zero, which a log scale cannot place: the axis starts
	// below the smallest bar and floorLog draws every bar from there. The
	// headroom above the tallest bar keeps the legend clear of the bars.
	pl.Y.Scale = floorLog{}
	pl.Y.Tick.Marker = logTicks{}
	pl.Y.Min = math.Pow(10, math.Floor(math.Log10(lo/1.5)))
	pl.Y.Max = hi * 5
	return pl
}

// floorLog is a logarithmic scale that maps values at or below the axis
// minimum (zero included) to the minimum instead of failing.
type floorLog struct{}

func (floorLog) Normalize(lo, hi, x float64) float64 {
	x = max(x, lo)
	return (math.Log(x) - math.Log(lo)) / (math.Log(hi) - math.Log(lo))
}

// logTicks labels 1, 2 and 5 times each power of ten, with unlabelled minor
// ticks at the other integers.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for m := 1.0; m < 10; m++ {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			label := ""
			if m == 1 || m == 2 || m == 5 {
				label = fmt.Sprintf("%g", v)
			}
			ticks = append(ticks, plot.Tick{Value: v, Label: label})
		}
	}
	return ticks
}
