//! `recurrent report`: the numbers on the page against direct computations with the library, and
//! the page in a real browser (headless Chromium from Debian's packages: `apt-get install
//! chromium`; `.ci/run` installs it). Without Chromium the browser half says it is skipped.

mod common;
use common::{corpus_head, ok, recurrent, s};

use ndarray::Array2;
use recurrent::analysis::states_along;
use recurrent::checkpoint::load_model;
use recurrent::{Input, State};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The JSON the page reads.
fn page_data(html: &str) -> Value {
    let start = html.find(r#"<script type="application/json" id="data">"#).expect("data element") + 42;
    let end = start + html[start..].find("</script>").expect("end of data");
    serde_json::from_str(&html[start..end].replace("<\\/", "</")).expect("JSON")
}

/// A small trained run and its report.
fn make_report(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let text = corpus_head(dir, "t.txt", 30_000);
    let run = dir.join("run");
    ok(&recurrent(&[
        "train",
        s(&text),
        "--out",
        s(&run),
        "--hidden",
        "16",
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--steps",
        "60",
        "--eval-every",
        "20",
        "--log-every",
        "10",
        "--sample-every",
        "0",
    ]));
    let page = dir.join("report.html");
    let o = recurrent(&["report", s(&run), "--out", s(&page), "--chars", "600"]);
    ok(&o);
    (text, run, page)
}

// The page's numbers are the model's: a tracked unit's activations and every layer's h against
// a step-by-step forward (another path than the report's chunked trace), the top-5 against the
// softmax of that forward, and the gradient reach against centred finite differences in f64 on
// the checkpoint's weights.
#[test]
fn the_numbers_on_the_page_are_the_models() {
    let d = tempfile::tempdir().unwrap();
    let (_, run, page) = make_report(d.path());
    let html = std::fs::read_to_string(&page).unwrap();
    let data = page_data(&html);
    let (mut model, vocab, _) = load_model::<f32>(&run.join("best.safetensors")).unwrap();
    let passage: Vec<char> = data["passage"].as_str().unwrap().chars().collect();
    assert_eq!(passage.len(), 600);
    let tokens: Vec<usize> = vocab.encode(&passage.iter().collect::<String>()).unwrap();
    let states = states_along(&mut model, &tokens).unwrap();
    // A tracked unit.
    let k = &data["trackers"][0];
    let (layer, unit) = (k["layer"].as_u64().unwrap() as usize, k["unit"].as_u64().unwrap() as usize);
    for (t, v) in k["values"].as_array().unwrap().iter().enumerate() {
        let st = &states[t];
        let want = if k["state"] == "h" { st.h[[layer, 0, unit]] } else { st.c.as_ref().unwrap()[[layer, 0, unit]] };
        assert!((v.as_f64().unwrap() - want as f64).abs() < 1e-4 + 1e-4 * (want as f64).abs(), "t {t}: {v} vs {want}");
    }
    // Every h, quantised to 1/127.
    use base64::Engine;
    let q = base64::engine::general_purpose::STANDARD.decode(data["units"]["h_b64"].as_str().unwrap()).unwrap();
    let (nl, h) = (model.config.layers, model.config.hidden);
    assert_eq!(q.len(), 600 * nl * h);
    for t in (0..600).step_by(37) {
        for l in 0..nl {
            for u in 0..h {
                let got = (q[(t * nl + l) * h + u] as i8) as f32 / 127.0;
                assert!((got - states[t].h[[l, 0, u]]).abs() <= 0.5 / 127.0 + 1e-6, "h[{t}][{l}][{u}]");
            }
        }
    }
    // The top-5 after position 10: the five largest probabilities of the model's next step.
    let (p, _) = model.step_probs(&[tokens[10]], Some(&states[9]), 1.0).unwrap();
    let mut idx: Vec<usize> = (0..vocab.len()).collect();
    idx.sort_by(|&a, &b| p[[0, b]].total_cmp(&p[[0, a]]));
    for (j, e) in data["top5"][10].as_array().unwrap().iter().enumerate() {
        assert_eq!(e[0].as_str().unwrap(), vocab.decode_one(idx[j]).to_string());
        assert!((e[1].as_f64().unwrap() - p[[0, idx[j]]] as f64).abs() < 1e-4);
    }
    // The gradient reach of the trained model at k = 1 and k = 4: finite differences in f64.
    let (mut m64, _, _) = load_model::<f64>(&run.join("best.safetensors")).unwrap();
    let st64 = states_along(&mut m64, &tokens).unwrap();
    let ends: Vec<usize> =
        data["reach"]["ends"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let distances: Vec<usize> =
        data["reach"]["distances"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let trained = &data["reach"]["series"][0];
    assert!(trained["name"].as_str().unwrap().ends_with("trained"));
    for k in [1usize, 4] {
        let i = distances.iter().position(|&d| d == k).unwrap();
        let mut sum = 0.0;
        for &end in &ends {
            let loss = |m: &mut recurrent::model::CharModel<f64>, s0: &State<f64>| -> f64 {
                let x = Array2::from_shape_fn((k, 1), |(j, _)| tokens[end - k + 1 + j]);
                m.rnn.forward_rows(Input::Tokens(x.view()), Some(s0), None).unwrap();
                let mut logits = Array2::zeros((k, vocab.len()));
                m.head.forward(m.rnn.output_rows(), &mut logits);
                let row = logits.row(k - 1);
                let mx = row.fold(f64::MIN, |a, &b| a.max(b));
                mx + row.iter().map(|v| (v - mx).exp()).sum::<f64>().ln() - row[tokens[end + 1]]
            };
            let mut sq = 0.0;
            for e in 0..st64[end - k].h.len() {
                let mut s0 = st64[end - k].clone();
                let orig = s0.h.as_slice().unwrap()[e];
                s0.h.as_slice_mut().unwrap()[e] = orig + 1e-6;
                let lp = loss(&mut m64, &s0);
                s0.h.as_slice_mut().unwrap()[e] = orig - 1e-6;
                let lm = loss(&mut m64, &s0);
                sq += ((lp - lm) / 2e-6).powi(2);
            }
            sum += sq.sqrt();
        }
        let want = sum / ends.len() as f64;
        let got = trained["values"][i].as_f64().unwrap();
        assert!((got - want).abs() < 1e-3 * want, "k = {k}: page {got}, finite differences {want}");
    }
}

/// The Chromium binary: `RECURRENT_CHROMIUM`, else `chromium` or `chromium-browser` on PATH.
fn chromium() -> Option<String> {
    if let Ok(c) = std::env::var("RECURRENT_CHROMIUM") {
        return Some(c);
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()))
        .map(String::from)
}

const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
];

// In headless Chromium the page loads with no error (its own handler catches any, and Chromium's
// console log is read), shows every section with its plots, and a screenshot is taken
// (target/report-screenshot.png).
#[test]
fn the_page_renders_in_chromium() {
    let Some(chrome) = chromium() else {
        // CI installs Chromium and sets RECURRENT_REQUIRE_BROWSER, so there this cannot pass by
        // skipping.
        assert!(
            std::env::var_os("RECURRENT_REQUIRE_BROWSER").is_none(),
            "no chromium on PATH, and the browser test is required"
        );
        eprintln!("browser test skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let (_, _, page) = make_report(d.path());
    let url = format!("file://{}", page.display());
    let profile = d.path().join("profile");
    let (dom, console) = render(&page, &profile).expect("chromium is there");
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains(r#"data-ready="ok""#), "the page's script did not finish: {}", &dom[..dom.len().min(2000)]);
    assert!(dom.contains(r#"<div id="errors"></div>"#), "errors on the page");
    for section in ["training", "neurons", "gates", "gradients", "samples"] {
        assert!(dom.contains(&format!(r#"<section id="{section}">"#)), "no section {section}");
    }
    let count = |needle: &str| dom.matches(needle).count();
    assert!(count("data-chart=\"loss (nats/char) against step\"") == 1, "no loss chart");
    // Four training charts, two gate scatters (one per layer), one gradient chart.
    assert_eq!(count("data-chart="), 7, "charts");
    assert_eq!(count("data-t=\""), 600, "one span per passage character");
    assert!(count("data-gate=\"forget\"") == 2 * 16, "one forget-gate point per unit and layer");
    assert_eq!(count("data-series=\"lstm 2×16, trained\""), 1);
    assert_eq!(count("data-series=\"lstm 2×16, at initialisation\""), 1);
    assert_eq!(count("class=\"sample\""), 3);
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let o = Command::new(&chrome)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--window-size=1280,2600", &format!("--screenshot={}", shot.display()), &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "screenshot of {} bytes", png.len());
    eprintln!("screenshot: {}", shot.display());
}

/// The page's DOM after its script ran in headless Chromium, and the console lines; `None`
/// (said) when there is no Chromium and it is not required.
fn render(page: &Path, profile: &Path) -> Option<(String, Vec<String>)> {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("RECURRENT_REQUIRE_BROWSER").is_none(),
            "no chromium, and the browser test is required"
        );
        eprintln!("browser test skipped: no chromium on PATH (apt-get install chromium)");
        return None;
    };
    let url = format!("file://{}", page.display());
    let o = Command::new(&chrome)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--enable-logging=stderr", "--v=0", "--dump-dom", &url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stderr);
    let console = log.lines().filter(|l| l.contains("CONSOLE") || l.contains("Uncaught")).map(String::from).collect();
    Some((String::from_utf8_lossy(&o.stdout).into_owned(), console))
}

// A passage holding `<!--<script>` (which, inside the page's JSON, used to switch the HTML parser
// into a state that swallowed the rest of the document) and characters outside the Basic
// Multilingual Plane (emoji, once split into UTF-16 halves so the shading slid off the text): the
// page loads with no console error, shows every section, and has one span per character with
// each emoji whole in its own span.
#[test]
fn markup_and_emoji_in_the_passage_render() {
    let d = tempfile::tempdir().unwrap();
    let head = std::fs::read_to_string(corpus_head(d.path(), "head.txt", 20_000)).unwrap();
    let odd = "ROMEO: <!--<script> 😀 and </script> 🎭 & more\n".repeat(60);
    let text = d.path().join("t.txt");
    std::fs::write(&text, format!("{head}{odd}")).unwrap();
    let run = d.path().join("run");
    ok(&recurrent(&[
        "train",
        s(&text),
        "--out",
        s(&run),
        "--hidden",
        "8",
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--sample-every",
        "0",
        "--threads",
        "1",
    ]));
    let page = d.path().join("report.html");
    ok(&recurrent(&["report", s(&run), "--out", s(&page), "--chars", "600"]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<!--<script>"), "the markup is escaped inside the page's JSON");
    let passage = page_data(&html)["passage"].as_str().unwrap().to_string();
    assert!(passage.contains("<!--<script> 😀"), "the passage holds both cases: {passage:?}");
    let Some((dom, console)) = render(&page, &d.path().join("profile")) else { return };
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains(r#"data-ready="ok""#), "the page's script did not finish");
    for section in ["training", "neurons", "gates", "gradients", "samples"] {
        assert!(dom.contains(&format!(r#"<section id="{section}">"#)), "no section {section}");
    }
    assert_eq!(dom.matches("data-t=\"").count(), passage.chars().count(), "one span per character");
    let emoji = passage.chars().position(|c| c == '😀').unwrap();
    let at = dom.find(&format!(r#"data-t="{emoji}""#)).expect("the emoji's span");
    let span = &dom[at..at + dom[at..].find("</span>").unwrap()];
    assert!(span.ends_with(">😀"), "the emoji whole in span {emoji}: {span}");
}

// A run folder names its text in config.json; a received folder could name any local file. The
// page embeds that text only when it is the one the run's training state recorded; any other
// is named with --text.
#[test]
fn the_page_shows_only_the_runs_own_text_unless_told() {
    let d = tempfile::tempdir().unwrap();
    let (_, run, _) = make_report(d.path());
    let secret = d.path().join(".env");
    std::fs::write(&secret, &std::fs::read_to_string(corpus_head(d.path(), "other.txt", 31_000)).unwrap()[1000..])
        .unwrap();
    let cfg = run.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    c["text"] = Value::String(secret.display().to_string());
    std::fs::write(&cfg, serde_json::to_string_pretty(&c).unwrap()).unwrap();
    let page = d.path().join("leak.html");
    let o = recurrent(&["report", s(&run), "--out", s(&page)]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(
            "which is not the text this run recorded in its training state: give the text to show with --text FILE"
        ),
        "{e}"
    );
    assert!(!page.exists(), "no page written");
    ok(&recurrent(&["report", s(&run), "--out", s(&page), "--text", s(&secret), "--chars", "400"]));
    // Without its training state the folder cannot say which text it recorded: that is what the
    // message says (not that the text differs).
    std::fs::remove_file(run.join("last.state.safetensors")).unwrap();
    let o = recurrent(&["report", s(&run), "--out", s(&d.path().join("nostate.html"))]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("holds no readable training state to tell which text the run was trained on"), "{e}");
}

/// The `<text>` elements of the chart titled `title` in `dom`: (attributes, content).
fn chart_texts(dom: &str, title: &str) -> Vec<(String, String)> {
    let start = dom.find(&format!(r#"data-chart="{title}""#)).unwrap_or_else(|| panic!("no chart {title}"));
    let svg = &dom[start..start + dom[start..].find("</svg>").unwrap()];
    let mut out = Vec::new();
    let mut rest = svg;
    while let Some(i) = rest.find("<text ") {
        let tag_end = i + rest[i..].find('>').unwrap();
        let close = tag_end + rest[tag_end..].find("</text>").unwrap();
        out.push((rest[i..tag_end].to_string(), rest[tag_end + 1..close].to_string()));
        rest = &rest[close..];
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let i = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[i..i + tag[i..].find('"')?])
}

/// Tick labels are round: equally spaced by 1, 2, 2.5 or 5 × 10^k, each a multiple of that step,
/// printed with no more decimals than the step needs (a short run's narrow loss range can take a
/// step of 0.025, whose ticks need three).
fn assert_round(ticks: &[String], what: &str) {
    assert!(ticks.len() >= 3, "{what}: ticks {ticks:?}");
    let v: Vec<f64> = ticks.iter().map(|t| t.parse().unwrap_or_else(|_| panic!("{what}: tick {t:?}"))).collect();
    let step = v[1] - v[0];
    // A difference of printed decimals is not exact (3.8 − 3.7 = 0.0999…96), so the mantissa may
    // come out just under 10: that is a step of 1 × 10^(k+1).
    let mut mant = step / 10f64.powf(step.log10().floor());
    if (mant - 10.0).abs() < 1e-6 {
        mant = 1.0;
    }
    assert!([1.0, 2.0, 2.5, 5.0].iter().any(|m| (m - mant).abs() < 1e-6), "{what}: step {step} in {ticks:?}");
    for w in v.windows(2) {
        assert!(((w[1] - w[0]) - step).abs() < 1e-6 * step, "{what}: uneven ticks {ticks:?}");
    }
    for (x, t) in v.iter().zip(ticks) {
        assert!(((x / step) - (x / step).round()).abs() < 1e-6, "{what}: {t} is not a multiple of {step}");
        // The decimals the step needs: 0.1, 0.2, 0.5 one; 0.25 two; 0.025 three; 25 none.
        let needed = (-step.log10().floor() + if (mant - 2.5).abs() < 1e-6 { 1.0 } else { 0.0 }).max(0.0) as usize;
        let decimals = t.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(decimals <= needed, "{what}: {t} has {decimals} decimals for a step of {step}");
    }
}

/// The loss chart's x-axis tick labels (below the plot) and y-axis ones (left of it).
fn axis_ticks(texts: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let x = texts.iter().filter(|(t, _)| attr(t, "y") == Some("240")).map(|(_, c)| c.clone()).collect();
    let y = texts.iter().filter(|(t, _)| attr(t, "x") == Some("58")).map(|(_, c)| c.clone()).collect();
    (x, y)
}

// Issue 25, item 7: the report's looks, in headless Chromium. A finished run's loss chart has
// round ticks on both axes, its last x tick inside the picture, train and validation in
// loss.png's colours (checked in loss.png's pixels too), and a subtitle that does not repeat
// the title. A run interrupted early without validation has no "validation" legend, and the
// page says where its curve stops and that the run stopped short of its plan.
#[test]
fn the_charts_look_right() {
    let d = tempfile::tempdir().unwrap();
    let (text, run, page) = make_report(d.path());
    let Some((dom, console)) = render(&page, &d.path().join("profile")) else { return };
    assert!(console.is_empty(), "console messages: {console:?}");
    let texts = chart_texts(&dom, "loss (nats/char) against step");
    let (x, y) = axis_ticks(&texts);
    assert_round(&x, "x ticks");
    assert_round(&y, "y ticks");
    assert_eq!(x.last().map(String::as_str), Some("60"), "{x:?}");
    // The last x tick is anchored at its end inside the picture (520 wide), not centred on the edge.
    let last = texts.iter().find(|(t, c)| attr(t, "y") == Some("240") && c == "60").unwrap();
    assert_eq!(attr(&last.0, "text-anchor"), Some("end"), "{}", last.0);
    assert!(attr(&last.0, "x").unwrap().parse::<f64>().unwrap() <= 520.0);
    let legend = |name: &str| texts.iter().find(|(t, _)| attr(t, "data-legend") == Some(name)).map(|(t, _)| t.clone());
    assert!(legend("train (smoothed)").unwrap().contains("fill:#1f77b4"));
    assert!(legend("validation").unwrap().contains("fill:#d62728"));
    assert!(!texts.iter().any(|(t, _)| attr(t, "data-stop").is_some()), "a finished run has no stop note");
    // The log-scale gradient chart labels at most six powers of ten, evenly.
    let reach = chart_texts(&dom, "‖∂L_T / ∂h_{T−k}‖ against k");
    let (_, ylog) = axis_ticks(&reach);
    let powers: Vec<i32> =
        ylog.iter().map(|t| t.strip_prefix("1e").unwrap_or_else(|| panic!("{t}")).parse().unwrap()).collect();
    assert!((2..=6).contains(&powers.len()), "{ylog:?}");
    assert!(powers.windows(2).all(|w| w[1] - w[0] == powers[1] - powers[0]), "{ylog:?}");
    let h1 = &dom[dom.find("<h1>").unwrap() + 4..dom.find("</h1>").unwrap()];
    let sub = &dom[dom.find(r#"<p class="sub">"#).unwrap()..];
    let sub = &sub[..sub.find("</p>").unwrap()];
    assert!(!sub.contains(h1), "the subtitle repeats the title {h1:?}: {sub}");
    // loss.png in the same colours.
    let png = image::open(run.join("loss.png")).unwrap().to_rgb8();
    let count = |c: [u8; 3]| png.pixels().filter(|p| p.0 == c).count();
    assert!(count([0x1f, 0x77, 0xb4]) > 50, "train's blue in loss.png");
    assert!(count([0xd6, 0x27, 0x28]) > 50, "validation's red in loss.png");

    // An interrupted run without validation: Ctrl-C once its metrics have begun.
    let stopped = d.path().join("stopped");
    let mut child = common::bin()
        .args(["train", s(&text), "--out", s(&stopped), "--hidden", "16", "--seq-len", "16", "--batch", "4"])
        .args(["--steps", "1000000", "--eval-every", "0", "--log-every", "5", "--sample-every", "0", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(stopped.join("metrics.jsonl")).map_or(0, |m| m.lines().count()) < 4 {
        assert!(t0.elapsed().as_secs() < 60, "no metrics after 60 s");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let page2 = d.path().join("stopped.html");
    ok(&recurrent(&["report", s(&stopped), "--out", s(&page2), "--chars", "600"]));
    let Some((dom, console)) = render(&page2, &d.path().join("profile2")) else { return };
    assert!(console.is_empty(), "console messages: {console:?}");
    let texts = chart_texts(&dom, "loss (nats/char) against step");
    assert!(!texts.iter().any(|(t, _)| attr(t, "data-legend") == Some("validation")), "an empty validation legend");
    let note = texts.iter().find(|(t, _)| attr(t, "data-stop") == Some("train (smoothed)")).expect("a stop note");
    assert!(note.1.starts_with("train stops at step ") && note.1.ends_with(" of 1000000"), "{}", note.1);
    assert!(dom.contains("The run stopped at step ") && dom.contains("No validation loss was measured"));
    let (x, y) = axis_ticks(&texts);
    assert_round(&x, "x ticks, stopped run");
    assert_round(&y, "y ticks, stopped run");
}
