//! The viewer's terminal UI (`courier-top`): one row per host with its name, a memory bar, a
//! CPU bar, its uptime and the age of its latest sample, redrawn every second. Above the table,
//! the link to the collector ([`ViewerStatus`]: connecting, refused and why, silent for how
//! long); below it, the latest log lines, so that an empty screen always says why.
//!
//! [`Dashboard`] (and [`draw`]) only render a [`HostTable`], so they are tested against
//! ratatui's `TestBackend`; [`run_tui`] owns the real terminal: raw mode and the alternate
//! screen, restored when it returns, on error, and on panic.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime};

use courier_proto::message::Message;
use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::crossterm::{cursor, execute};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, Widget, Wrap};
use ratatui::{Frame, Terminal};

use crate::status::{LinkKind, ViewerStatus};
use crate::view::{HostRow, HostTable};

/// The filled part of a bar.
pub const BAR_FULL: &str = "█";
/// The empty part of a bar (and the whole bar when the value is unknown).
pub const BAR_EMPTY: &str = "░";
/// A sample older than this has its age shown in yellow.
pub const LATE_AFTER: Duration = Duration::from_secs(3);
/// A sample older than this has its age shown in red.
pub const STALE_AFTER: Duration = Duration::from_secs(30);

/// Columns between the table's columns.
const SPACING: u16 = 1;
/// Widest host-name column.
const MAX_NAME_WIDTH: u16 = 24;
/// Width of a bar's label, `100%`.
const LABEL_WIDTH: u16 = 4;
/// Most lines the link status may wrap over.
const MAX_STATUS_LINES: u16 = 3;
/// How many of the latest log lines are shown.
pub const LOG_LINES: usize = 3;

/// Renders `table` as of `now` into the whole frame.
pub fn draw(frame: &mut Frame<'_>, table: &HostTable, now: Instant) {
    frame.render_widget(Dashboard::new(table, now), frame.area());
}

/// The whole screen as a widget: a bordered table of hosts, or a waiting note before the
/// first host; optionally the link to the collector above it and log lines below.
#[derive(Debug, Clone, Copy)]
pub struct Dashboard<'a> {
    table: &'a HostTable,
    now: Instant,
    status: Option<&'a str>,
    link: Option<(&'a ViewerStatus, SystemTime)>,
    log: &'a [String],
}

impl<'a> Dashboard<'a> {
    /// The dashboard of `table` as of `now`.
    pub fn new(table: &'a HostTable, now: Instant) -> Self {
        Self {
            table,
            now,
            status: None,
            link: None,
            log: &[],
        }
    }

    /// Adds a note to the bottom border, e.g. `disconnected`.
    pub fn status(mut self, status: &'a str) -> Self {
        self.status = Some(status);
        self
    }

    /// Shows the link to the collector above the table, as of `wall` (for "for 12s").
    pub fn link(mut self, link: &'a ViewerStatus, wall: SystemTime) -> Self {
        self.link = Some((link, wall));
        self
    }

    /// Shows these log lines (the latest last) below the table.
    pub fn log(mut self, lines: &'a [String]) -> Self {
        self.log = lines;
        self
    }
}

/// The colour of a link state: green when connected, yellow while waiting, red on failure.
fn link_style(kind: LinkKind) -> Style {
    match kind {
        LinkKind::Connected => Style::new().fg(Color::Green),
        kind if kind.is_failure() => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new().fg(Color::Yellow),
    }
}

/// Takes `rows` rows off the top of `area`; returns them and what is left.
fn split_top(area: Rect, rows: u16) -> (Rect, Rect) {
    let rows = rows.min(area.height);
    let top = Rect {
        height: rows,
        ..area
    };
    let rest = Rect {
        y: area.y.saturating_add(rows),
        height: area.height - rows,
        ..area
    };
    (top, rest)
}

/// Takes `rows` rows off the bottom of `area`; returns what is left and them.
fn split_bottom(area: Rect, rows: u16) -> (Rect, Rect) {
    let rows = rows.min(area.height);
    let rest = Rect {
        height: area.height - rows,
        ..area
    };
    let bottom = Rect {
        y: area.y.saturating_add(rest.height),
        height: rows,
        ..area
    };
    (rest, bottom)
}

impl Widget for Dashboard<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let hosts = match self.table.len() {
            1 => " 1 host ".to_owned(),
            n => format!(" {n} hosts "),
        };
        let mut bottom = vec![Span::raw(" q quit ")];
        if let Some(status) = self.status {
            bottom.push(Span::styled(
                format!(" {status} "),
                Style::new().fg(Color::Yellow),
            ));
        }
        let block = Block::bordered()
            .title(Line::from(" courier-top ").bold())
            .title(Line::from(hosts).right_aligned())
            .title_bottom(Line::from(bottom));
        let mut inner = block.inner(area);
        block.render(area, buf);
        if inner.width == 0 {
            return;
        }
        if let Some((link, wall)) = self.link {
            let text = link.text(wall);
            // Wrapped over as many lines as it needs (a refusal's reason is long), up to 3.
            let needed = text_width(&text)
                .div_ceil(inner.width)
                .clamp(1, MAX_STATUS_LINES);
            // One line for it and a blank one under it, or only what the terminal has.
            let (top, rest) = split_top(inner, needed.saturating_add(1));
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .style(link_style(link.kind))
                .render(
                    Rect {
                        height: needed.min(top.height),
                        ..top
                    },
                    buf,
                );
            inner = rest;
        }
        if !self.log.is_empty() && inner.height > 4 {
            let shown = self.log.len().min(LOG_LINES);
            let skip = self.log.len() - shown;
            let rows = u16::try_from(shown).unwrap_or(1);
            let (rest, bottom) = split_bottom(inner, rows);
            let lines: Vec<Line<'_>> = self
                .log
                .iter()
                .skip(skip)
                .map(|l| Line::raw(l.as_str()))
                .collect();
            Paragraph::new(lines)
                .style(Style::new().fg(Color::DarkGray))
                .render(bottom, buf);
            inner = rest;
        }
        if self.table.is_empty() {
            Paragraph::new("waiting for metrics…")
                .centered()
                .style(Style::new().fg(Color::DarkGray))
                .render(inner, buf);
            return;
        }
        host_table(&self.table.rows(self.now), inner.width).render(inner, buf);
    }
}

/// Column widths: name, memory, CPU, uptime, age.
fn column_widths(rows: &[HostRow], width: u16) -> [u16; 5] {
    let widest = |header: &str, texts: &mut dyn Iterator<Item = String>| {
        texts
            .map(|t| text_width(&t))
            .chain([text_width(header)])
            .max()
            .unwrap_or(0)
    };
    let name = widest("HOST", &mut rows.iter().map(|r| r.hostname.clone()))
        .min(MAX_NAME_WIDTH)
        .min(width / 3);
    let uptime = widest("UPTIME", &mut rows.iter().map(HostRow::uptime_text));
    let age = widest("AGE", &mut rows.iter().map(HostRow::age_text));
    let rest = width.saturating_sub(name + uptime + age + 4 * SPACING);
    let bar = rest / 2;
    [name, bar, bar, uptime, age]
}

fn text_width(text: &str) -> u16 {
    u16::try_from(Span::raw(text).width()).unwrap_or(u16::MAX)
}

fn host_table(rows: &[HostRow], width: u16) -> Table<'static> {
    let widths = column_widths(rows, width);
    let [_, mem_width, cpu_width, _, _] = widths;
    let header = Row::new(["HOST", "MEM", "CPU", "UPTIME", "AGE"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body = rows.iter().map(|row| {
        Row::new([
            Cell::from(row.hostname.clone()),
            Cell::from(bar(row.mem_percent, mem_width)),
            Cell::from(bar(row.cpu_percent, cpu_width)),
            Cell::from(row.uptime_text()),
            Cell::from(Span::styled(row.age_text(), age_style(row.age))),
        ])
    });
    Table::new(body, widths.map(Constraint::Length))
        .header(header)
        .column_spacing(SPACING)
}

/// A text bar `width` columns wide ending in its label: `█████░░░░░  42%`; an unknown
/// value has an empty bar and `?`. Too narrow for a bar, only the label is shown.
pub fn bar(percent: Option<f64>, width: u16) -> Line<'static> {
    let label = Span::raw(format!(
        "{:>w$}",
        crate::view::format_percent(percent),
        w = usize::from(LABEL_WIDTH)
    ));
    let bar_width = width.saturating_sub(LABEL_WIDTH + 1);
    if bar_width < 3 {
        return Line::from(label);
    }
    let filled = filled_cells(percent.unwrap_or(0.0), bar_width);
    let empty = usize::from(bar_width).saturating_sub(filled);
    Line::from(vec![
        Span::styled(
            BAR_FULL.repeat(filled),
            Style::new().fg(level_color(percent)),
        ),
        Span::styled(BAR_EMPTY.repeat(empty), Style::new().fg(Color::DarkGray)),
        Span::raw(" "),
        label,
    ])
}

/// How many of `width` cells `percent` fills, rounded.
fn filled_cells(percent: f64, width: u16) -> usize {
    let share = match percent.is_nan() {
        true => 0.0,
        false => percent.clamp(0.0, 100.0) / 100.0,
    };
    // In 0..=width (a u16) after the clamp, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let cells = (share * f64::from(width)).round() as usize;
    cells
}

fn level_color(percent: Option<f64>) -> Color {
    match percent {
        Some(p) if p >= 85.0 => Color::Red,
        Some(p) if p >= 60.0 => Color::Yellow,
        _ => Color::Green,
    }
}

fn age_style(age: Option<Duration>) -> Style {
    match age {
        None => Style::new().fg(Color::DarkGray),
        Some(a) if a > STALE_AFTER => Style::new().fg(Color::Red),
        Some(a) if a > LATE_AFTER => Style::new().fg(Color::Yellow),
        Some(_) => Style::new(),
    }
}

/// What the message source handed to [`run_tui`] has for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A message to show.
    Message(Message),
    /// The link to the collector changed state (shown above the table).
    Status(ViewerStatus),
    /// A log line (the latest [`LOG_LINES`] are shown below the table).
    Log(String),
    /// Nothing right now.
    Empty,
    /// Leave the UI (e.g. the program is shutting down).
    Stop,
}

/// How [`run_tui`] behaves.
#[derive(Debug, Clone)]
pub struct TuiOptions {
    /// How often the screen is redrawn: 1 s.
    pub refresh: Duration,
    /// How long to wait for a key between looks at the message source: 50 ms.
    pub poll: Duration,
    /// Forget hosts silent for this long; `None` (the default) keeps them, their age growing.
    pub forget_after: Option<Duration>,
}

impl Default for TuiOptions {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(1),
            poll: Duration::from_millis(50),
            forget_after: None,
        }
    }
}

/// Most messages taken from the source between two looks at the keyboard.
const MAX_DRAIN: usize = 10_000;

/// Whether `key` quits the UI: `q`, `Q`, Esc or Ctrl-C (raw mode turns Ctrl-C into a key).
pub fn is_quit_key(key: &KeyEvent) -> bool {
    if key.kind == KeyEventKind::Release {
        return false;
    }
    match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// Runs the UI on the terminal until a quit key ([`is_quit_key`]) or [`Incoming::Stop`].
///
/// `next` is called until it returns [`Incoming::Empty`] every [`TuiOptions::poll`]; it must not
/// block. Wire it to the network side with a channel, e.g. with a
/// `std::sync::mpsc::Receiver<Message>` named `rx`:
/// `run_tui(&TuiOptions::default(), || rx.try_recv().map_or(Incoming::Empty, Incoming::Message))`.
///
/// Raw mode and the alternate screen are left when it returns (also on error), and a panic
/// restores the terminal before its message is printed. Nothing else may write to the terminal
/// meanwhile: send logs to a file.
pub fn run_tui<F>(options: &TuiOptions, next: F) -> io::Result<()>
where
    F: FnMut() -> Incoming,
{
    let _guard = TerminalGuard::enter()?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    event_loop(&mut terminal, options, next, |timeout| {
        match event::poll(timeout)? {
            true => event::read().map(Some),
            false => Ok(None),
        }
    })
}

/// The loop of [`run_tui`], apart from the real terminal: draws on `terminal`, takes
/// messages from `next`, and reads events from `next_event` (which waits at most its argument).
fn event_loop<B, F, E>(
    terminal: &mut Terminal<B>,
    options: &TuiOptions,
    mut next: F,
    mut next_event: E,
) -> io::Result<()>
where
    B: Backend,
    F: FnMut() -> Incoming,
    E: FnMut(Duration) -> io::Result<Option<Event>>,
{
    let mut table = HostTable::new();
    let mut link: Option<ViewerStatus> = None;
    let mut log: Vec<String> = Vec::new();
    let mut redraw_at = Instant::now();
    loop {
        let now = Instant::now();
        for _ in 0..MAX_DRAIN {
            match next() {
                Incoming::Message(msg) => {
                    table.apply(&msg, now);
                }
                Incoming::Status(status) => {
                    link = Some(status);
                    // A change of state is shown at once, not at the next tick.
                    redraw_at = now;
                }
                Incoming::Log(line) => {
                    log.push(line);
                    if log.len() > LOG_LINES {
                        log.remove(0);
                    }
                }
                Incoming::Empty => break,
                Incoming::Stop => return Ok(()),
            }
        }
        if now >= redraw_at {
            if let Some(silence) = options.forget_after {
                table.forget_silent(now, silence);
            }
            let wall = SystemTime::now();
            terminal.draw(|frame| {
                let mut dashboard = Dashboard::new(&table, now).log(&log);
                if let Some(link) = &link {
                    dashboard = dashboard.link(link, wall);
                }
                frame.render_widget(dashboard, frame.area());
            })?;
            redraw_at = now + options.refresh;
        }
        let wait = options
            .poll
            .min(redraw_at.saturating_duration_since(Instant::now()));
        match next_event(wait)? {
            Some(Event::Key(key)) if is_quit_key(&key) => return Ok(()),
            Some(Event::Resize(..)) => redraw_at = Instant::now(),
            _ => {}
        }
    }
}

/// Whether the terminal is in raw mode on the alternate screen because of [`run_tui`].
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// Raw mode and the alternate screen while alive.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
                    restore_terminal();
                }
                previous(info);
            }));
        });
        enable_raw_mode()?;
        TERMINAL_TAKEN.store(true, Ordering::SeqCst);
        let guard = TerminalGuard;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
            restore_terminal();
        }
    }
}

/// Leaves the alternate screen and raw mode, best effort.
fn restore_terminal() {
    let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    let _ = disable_raw_mode();
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_proto::message::MetricValues;
    use ratatui::backend::TestBackend;
    use serde_json::Number;

    fn values(pairs: &[(&str, f64)]) -> MetricValues {
        pairs
            .iter()
            .map(|&(k, v)| (k.to_owned(), Number::from_f64(v).unwrap()))
            .collect()
    }

    fn sample_table(now: Instant) -> HostTable {
        let mut table = HostTable::new();
        table.apply(
            &Message::model("alpha", values(&[("mem.total", 1000.0)])),
            now,
        );
        let alpha = values(&[
            ("mem.avail", 580.0),
            ("cpu.percent", 7.0),
            ("sys.uptime", 273_906.0),
        ]);
        table.apply(&Message::metrics("alpha", alpha), now);
        let beta = values(&[("mem.avail", 1.0), ("cpu.percent", 100.0)]);
        table.apply(
            &Message::metrics("beta-host", beta),
            now - Duration::from_secs(45),
        );
        table
    }

    fn render(table: &HostTable, now: Instant, width: u16, height: u16) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, table, now)).unwrap();
        lines(terminal.backend().buffer())
    }

    fn lines(buf: &Buffer) -> Vec<String> {
        let area = buf.area;
        (area.top()..area.bottom())
            .map(|y| {
                (area.left()..area.right())
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn renders_hosts_with_bars() {
        let now = Instant::now();
        let screen = render(&sample_table(now), now, 80, 10);
        let text = screen.join("\n");
        assert!(
            screen[0].contains("courier-top") && screen[0].contains("2 hosts"),
            "{text}"
        );
        assert!(
            screen[1].contains("HOST") && screen[1].contains("UPTIME"),
            "{text}"
        );
        let alpha = &screen[2];
        let beta = &screen[3];
        assert!(alpha.contains("alpha") && alpha.contains(" 42%"), "{text}");
        assert!(
            alpha.contains("  7%") && alpha.contains("3d 04:05:06"),
            "{text}"
        );
        assert!(alpha.contains("0s"), "{text}");
        assert!(
            alpha.contains(BAR_FULL) && alpha.contains(BAR_EMPTY),
            "{text}"
        );
        // beta has no model: memory unknown, an empty bar and `?`; its CPU bar is full.
        assert!(
            beta.contains("beta-host") && beta.contains("   ?"),
            "{text}"
        );
        assert!(beta.contains("100%") && beta.contains("45s"), "{text}");
        let bars: Vec<&str> = beta.split_whitespace().collect();
        assert!(
            bars.iter()
                .any(|w| w.chars().all(|c| c == '█') && w.len() > 10),
            "{text}"
        );
        assert!(screen[9].contains("q quit"), "{text}");
    }

    #[test]
    fn bar_lengths_follow_the_percentage() {
        let now = Instant::now();
        let table = sample_table(now);
        let screen = render(&table, now, 80, 10);
        let alpha = &screen[2];
        let full = alpha.matches(BAR_FULL).count();
        let empty = alpha.matches(BAR_EMPTY).count();
        let bar_width = full + empty;
        assert_eq!(bar_width % 2, 0, "two bars of the same width: {alpha}");
        // 42% of the memory bar plus 7% of the CPU bar.
        let per_bar = bar_width / 2;
        let want = (0.42 * per_bar as f64).round() + (0.07 * per_bar as f64).round();
        assert_eq!(full as f64, want, "{alpha}");
    }

    #[test]
    fn bar_text() {
        let text = |p, w| {
            bar(p, w)
                .spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        assert_eq!(text(Some(50.0), 15), "█████░░░░░  50%");
        assert_eq!(text(Some(42.0), 15), "████░░░░░░  42%");
        assert_eq!(text(Some(100.0), 8), "███ 100%");
        assert_eq!(text(Some(250.0), 8), "███ 100%");
        assert_eq!(text(None, 8), "░░░    ?");
        assert_eq!(text(Some(0.0), 8), "░░░   0%");
        assert_eq!(text(Some(1.0), 4), "  1%");
        assert_eq!(text(Some(1.0), 7), "  1%");
        assert_eq!(text(Some(f64::NAN), 8), "░░░    ?");
    }

    #[test]
    fn waiting_before_first_host() {
        let screen = render(&HostTable::new(), Instant::now(), 40, 5);
        assert!(screen[1].contains("waiting for metrics"), "{screen:#?}");
        assert!(screen[0].contains("0 hosts"));
    }

    #[test]
    fn narrow_and_tiny_terminals_do_not_panic() {
        let now = Instant::now();
        let mut table = sample_table(now);
        let long = "a-very-long-host-name-that-goes-on-and-on.example.com";
        table.apply(&Message::metrics(long, MetricValues::new()), now);
        for (w, h) in [(80, 10), (30, 6), (10, 3), (1, 1), (200, 2)] {
            render(&table, now, w, h);
        }
        let screen = render(&table, now, 80, 10);
        assert!(
            screen[2].contains("a-very-long-host-name-th"),
            "{screen:#?}"
        );
    }

    #[test]
    fn status_in_bottom_border() {
        let now = Instant::now();
        let table = sample_table(now);
        let mut terminal = Terminal::new(TestBackend::new(60, 6)).unwrap();
        terminal
            .draw(|f| f.render_widget(Dashboard::new(&table, now).status("disconnected"), f.area()))
            .unwrap();
        assert!(lines(terminal.backend().buffer())[5].contains("disconnected"));
    }

    fn render_with(dashboard: Dashboard<'_>, width: u16, height: u16) -> (Vec<String>, Buffer) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| f.render_widget(dashboard, f.area()))
            .unwrap();
        let buf = terminal.backend().buffer().clone();
        (lines(&buf), buf)
    }

    /// The foreground colour of the cell of row `y` where `needle` starts.
    fn fg_at(buf: &Buffer, screen: &[String], y: usize, needle: &str) -> Color {
        let row = &screen[y];
        let byte = row
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in {row:?}"));
        // Columns, not bytes: the border is a multi-byte character.
        let x = row[..byte].chars().count();
        buf[(u16::try_from(x).unwrap(), u16::try_from(y).unwrap())].fg
    }

    #[test]
    fn link_status_above_an_empty_table() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let table = HostTable::new();
        let refused = ViewerStatus::new(LinkKind::Refused, "tcp://127.0.0.1:5557", wall)
            .with_reason("peer closed the connection with ERROR: 400");
        let (screen, buf) = render_with(Dashboard::new(&table, now).link(&refused, wall), 100, 10);
        let text = screen.join("\n");
        // The whole reason is there, wrapped over the lines it needs, in red.
        assert!(
            screen[1].contains("tcp://127.0.0.1:5557 refused us in the handshake"),
            "{text}"
        );
        assert!(text.contains("ERROR: 400"), "{text}");
        assert!(text.contains("authorized_clients"), "{text}");
        assert_eq!(fg_at(&buf, &screen, 1, "tcp://"), Color::Red, "{text}");
        assert!(text.contains("waiting for metrics"), "{text}");

        let up = ViewerStatus::new(LinkKind::Connected, "tcp://127.0.0.1:5557", wall);
        let (screen, buf) = render_with(Dashboard::new(&table, now).link(&up, wall), 100, 10);
        assert!(
            screen[1].contains("connected to tcp://127.0.0.1:5557"),
            "{screen:#?}"
        );
        assert_eq!(fg_at(&buf, &screen, 1, "connected"), Color::Green);

        let silent_since = wall - Duration::from_secs(20);
        let silent = ViewerStatus::new(LinkKind::Silent, "tcp://127.0.0.1:5557", silent_since);
        let (screen, buf) = render_with(Dashboard::new(&table, now).link(&silent, wall), 100, 10);
        assert!(
            screen[1].contains("nothing received for 20s"),
            "{screen:#?}"
        );
        assert_eq!(fg_at(&buf, &screen, 1, "connected"), Color::Yellow);
    }

    #[test]
    fn link_status_and_log_lines_around_the_hosts() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let table = sample_table(now);
        let up = ViewerStatus::new(LinkKind::Connected, "tcp://127.0.0.1:5557", wall);
        let log: Vec<String> = (1..=5).map(|i| format!("log line {i}")).collect();
        let dashboard = Dashboard::new(&table, now).link(&up, wall).log(&log);
        let (screen, _) = render_with(dashboard, 80, 12);
        let text = screen.join("\n");
        assert!(screen[1].contains("connected to"), "{text}");
        assert!(screen[3].contains("HOST"), "{text}");
        assert!(
            screen[4].contains("alpha") && screen[5].contains("beta-host"),
            "{text}"
        );
        // The latest three, the newest last, just above the bottom border.
        assert!(!text.contains("log line 2"), "{text}");
        assert!(screen[8].contains("log line 3"), "{text}");
        assert!(screen[10].contains("log line 5"), "{text}");
        assert!(screen[11].contains("q quit"), "{text}");
        // Too small for everything: no panic, the status first.
        for (w, h) in [(80, 3), (5, 4), (1, 1), (200, 5)] {
            render_with(Dashboard::new(&table, now).link(&up, wall).log(&log), w, h);
        }
    }

    #[test]
    fn loop_shows_the_latest_status_and_logs() {
        let mut terminal = Terminal::new(TestBackend::new(90, 10)).unwrap();
        let wall = SystemTime::now();
        let ep = "tcp://127.0.0.1:5557";
        let mut queue = vec![
            Incoming::Status(ViewerStatus::new(LinkKind::Connecting, ep, wall)),
            Incoming::Log("first".into()),
            Incoming::Status(
                ViewerStatus::new(LinkKind::Unreachable, ep, wall)
                    .with_reason("Connection refused (os error 111)"),
            ),
            Incoming::Log("second".into()),
        ]
        .into_iter();
        let mut polls = 0;
        event_loop(
            &mut terminal,
            &TuiOptions::default(),
            || queue.next().unwrap_or(Incoming::Empty),
            |_| {
                polls += 1;
                Ok((polls > 1).then(|| Event::Key(KeyEvent::from(KeyCode::Char('q')))))
            },
        )
        .unwrap();
        let screen = lines(terminal.backend().buffer());
        let text = screen.join("\n");
        assert!(
            screen[1].contains("cannot connect to tcp://127.0.0.1:5557: Connection refused"),
            "{text}"
        );
        assert!(!text.contains("connecting to"), "{text}");
        assert!(
            screen[7].contains("first") && screen[8].contains("second"),
            "{text}"
        );
    }

    #[test]
    fn quit_keys() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit_key(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit_key(&key(KeyCode::Char('Q'), KeyModifiers::SHIFT)));
        assert!(is_quit_key(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit_key(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit_key(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit_key(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
        let mut release = key(KeyCode::Char('q'), KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert!(!is_quit_key(&release));
    }

    #[test]
    fn loop_shows_messages_then_quits_on_q() {
        let mut terminal = Terminal::new(TestBackend::new(80, 8)).unwrap();
        let mut queue = vec![
            Incoming::Message(Message::metrics("gamma", values(&[("cpu.percent", 42.0)]))),
            Incoming::Message(Message::Hello),
        ]
        .into_iter();
        let mut polls = 0;
        let options = TuiOptions {
            refresh: Duration::ZERO,
            ..TuiOptions::default()
        };
        event_loop(
            &mut terminal,
            &options,
            || queue.next().unwrap_or(Incoming::Empty),
            |_| {
                polls += 1;
                Ok(match polls {
                    1 => Some(Event::Resize(80, 8)),
                    2 => None,
                    _ => Some(Event::Key(KeyEvent::from(KeyCode::Char('q')))),
                })
            },
        )
        .unwrap();
        assert_eq!(polls, 3);
        let screen = lines(terminal.backend().buffer());
        assert!(
            screen[2].contains("gamma") && screen[2].contains(" 42%"),
            "{screen:#?}"
        );
    }

    #[test]
    fn loop_stops_on_stop() {
        let mut terminal = Terminal::new(TestBackend::new(20, 4)).unwrap();
        event_loop(
            &mut terminal,
            &TuiOptions::default(),
            || Incoming::Stop,
            |_| panic!("no event expected"),
        )
        .unwrap();
    }
}
