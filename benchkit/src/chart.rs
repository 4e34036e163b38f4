// SPDX-License-Identifier: MPL-2.0
//! Charts for the programs' HTML reports: a chart of lines and dots drawn
//! as SVG text by plotters, to be put straight into a self-contained page,
//! and the escaping the pages' text needs.

use plotters::prelude::*;

/// The axes of a chart.
#[derive(Debug, Clone, Copy)]
pub struct Axes<'a> {
    /// What x is, with its unit.
    pub x: &'a str,
    /// What y is, with its unit.
    pub y: &'a str,
    /// A logarithmic y axis (values below 0.1 are drawn at 0.1).
    pub log_y: bool,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mark {
    /// Points joined in order.
    Line,
    /// Each point on its own.
    Dots,
}

/// A series' colour: the palette's `n`th (one per named series), or an
/// RGB colour with an opacity (many faint series behind a bold one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Colour {
    /// The `n`th colour of a palette of distinct colours.
    Palette(usize),
    /// Red, green, blue and opacity (0..1).
    Rgba(u8, u8, u8, f64),
}

/// One series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend (None: not in the legend).
    pub name: Option<String>,
    /// (x, y) points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Lines or dots.
    pub mark: Mark,
    /// Its colour.
    pub colour: Colour,
    /// Line width or dot radius, pixels.
    pub width: u32,
}

impl Series {
    /// A named line in the palette's `n`th colour.
    pub fn line(name: impl Into<String>, n: usize, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: Some(name.into()),
            points,
            mark: Mark::Line,
            colour: Colour::Palette(n),
            width: 2,
        }
    }
}

/// A chart: a title, axes, series, and horizontal reference lines (a
/// target, a frame interval) with their labels.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// The caption.
    pub title: &'a str,
    /// The axes.
    pub axes: Axes<'a>,
    /// The series, drawn in order (the last on top).
    pub series: Vec<Series>,
    /// Horizontal lines at y, each with its legend label.
    pub references: Vec<(f64, String)>,
}

/// The drawing's size in pixels.
const SIZE: (u32, u32) = (900, 320);

impl<'a> Chart<'a> {
    /// A chart of named lines, one palette colour each, in order.
    pub fn lines(title: &'a str, axes: Axes<'a>, lines: &[(String, Vec<(f64, f64)>)]) -> Self {
        Chart {
            title,
            axes,
            series: lines
                .iter()
                .enumerate()
                .map(|(n, (name, points))| Series::line(name.clone(), n, points.clone()))
                .collect(),
            references: Vec::new(),
        }
    }

    /// The chart as SVG text; a short HTML paragraph saying why, when it
    /// cannot be drawn.
    pub fn svg(&self) -> String {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            if let Err(e) = self.draw(&root) {
                return format!("<p>plot '{}' failed: {e}</p>", escape(self.title));
            }
        }
        svg
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let log_y = self.axes.log_y;
        // A log axis is drawn as a linear one of log10 values, labelled back.
        let to_axis = |y: f64| if log_y { y.max(0.1).log10() } else { y };
        let ys = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.references.iter().map(|r| r.0))
            .map(to_axis);
        let x_max = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let (y_min, y_max) = if log_y {
            let lo = ys.clone().fold(f64::INFINITY, f64::min).floor();
            (lo.min(0.0), ys.fold(1.0, f64::max).ceil())
        } else {
            (0.0, ys.fold(1.0, f64::max) * 1.1)
        };
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..x_max, y_min..y_max)?;
        let log_label = |v: &f64| format!("{}", 10f64.powf(*v));
        let lin_label = |v: &f64| v.to_string();
        chart
            .configure_mesh()
            .x_desc(self.axes.x)
            .y_desc(self.axes.y)
            .y_labels(if log_y {
                (y_max - y_min) as usize + 1
            } else {
                10
            })
            .y_label_formatter(if log_y { &log_label } else { &lin_label })
            .draw()?;
        let mut legend = false;
        for (y, label) in &self.references {
            let style = RED.mix(0.8).stroke_width(1);
            chart
                .draw_series(LineSeries::new(
                    [(0.0, to_axis(*y)), (x_max, to_axis(*y))],
                    style,
                ))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            legend = true;
        }
        for s in &self.series {
            let colour = match s.colour {
                Colour::Palette(n) => Palette99::pick(n).to_rgba(),
                Colour::Rgba(r, g, b, a) => RGBAColor(r, g, b, a),
            };
            let points = s.points.iter().map(|&(x, y)| (x, to_axis(y)));
            let width = s.width;
            let drawn = match s.mark {
                Mark::Line => {
                    chart.draw_series(LineSeries::new(points, colour.stroke_width(width)))?
                }
                Mark::Dots => chart
                    .draw_series(points.map(|p| Circle::new(p, width as i32, colour.filled())))?,
            };
            if let Some(name) = &s.name {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
                });
                legend = true;
            }
        }
        if legend {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        root.present()
    }
}

/// `s` as HTML text (element content and attribute values).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_draws_its_series_legend_and_reference() {
        let chart = Chart {
            title: "latency <p50>",
            axes: Axes {
                x: "seconds",
                y: "ms",
                log_y: false,
            },
            series: vec![
                Series::line("delta", 0, vec![(0.0, 5.0), (1.0, 7.0), (2.0, 6.0)]),
                Series {
                    name: None,
                    points: vec![(0.5, 40.0), (1.5, 60.0)],
                    mark: Mark::Dots,
                    colour: Colour::Rgba(32, 96, 192, 1.0),
                    width: 3,
                },
            ],
            references: vec![(100.0, "target".into())],
        };
        let svg = chart.svg();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("delta") && svg.contains("target"));
        // the title's markup is escaped by the backend
        assert!(!svg.contains("<p50>"));
        assert!(svg.contains("<circle"), "dots are drawn as circles");
        assert!(svg.contains("<polyline"), "lines are drawn as polylines");
    }

    #[test]
    fn a_log_axis_takes_values_below_its_floor() {
        let chart = Chart {
            title: "stalls",
            axes: Axes {
                x: "loss %",
                y: "ms",
                log_y: true,
            },
            series: vec![Series::line("h264", 1, vec![(0.0, 0.0), (5.0, 2000.0)])],
            references: Vec::new(),
        };
        assert!(chart.svg().starts_with("<svg"));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
