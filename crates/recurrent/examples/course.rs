//! Prints the course's test cells with this library's values, line for line, so a learner can
//! diff them against their notebook:  cargo run --example course
//!
//! Forward cells print what the course prints. Backward cells print the true gradients (checked
//! against torch in float64 and finite differences); where the course's own printed values are
//! known to be wrong, a note says so.

use ndarray::{s, Array2, ArrayView1};
use recurrent::course::replay::{self, randn2, randn3};
use recurrent::course::*;

fn row(a: ArrayView1<'_, f64>) -> String {
    format!("[{}]", a.iter().map(|v| format!("{v:.8}")).collect::<Vec<_>>().join(" "))
}

fn main() -> Result<(), recurrent::Error> {
    println!("== rnn_cell_forward ==");
    let r = replay::rnn_cell(false);
    let (a_next, yt, _) = rnn_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), &r.parameters)?;
    println!("a_next[4] = {}\na_next.shape = {:?}", row(a_next.row(4)), a_next.shape());
    println!("yt_pred[1] = {}\nyt_pred.shape = {:?}", row(yt.row(1)), yt.shape());

    println!("\n== rnn_forward ==");
    let r = replay::rnn_seq(false);
    let x = r.x.unwrap();
    let (a, y, caches) = rnn_forward(x.view(), r.inputs["a0"].view(), &r.parameters)?;
    println!("a[4][1] = {}\na.shape = {:?}", row(a.slice(s![4, 1, ..])), a.shape());
    println!("y_pred[1][3] = {}\ny_pred.shape = {:?}", row(y.slice(s![1, 3, ..])), y.shape());
    println!("caches[1][1][3] = {}\nlen(caches) = 2", row(caches.x.slice(s![1, 3, ..])));

    println!("\n== rnn_cell_backward ==");
    let mut r = replay::rnn_cell(true);
    let (_, _, cache) = rnn_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), &r.parameters)?;
    let da_next = randn2(&mut r.rng, 5, 10);
    let g = rnn_cell_backward(da_next.view(), &cache)?;
    println!("gradients[\"dxt\"][1][2] = {:.10}\ngradients[\"dxt\"].shape = {:?}", g["dxt"][[1, 2]], g["dxt"].shape());
    println!(
        "gradients[\"da_prev\"][2][3] = {:.10}\ngradients[\"da_prev\"].shape = {:?}",
        g["da_prev"][[2, 3]],
        g["da_prev"].shape()
    );
    println!(
        "gradients[\"dWax\"][3][1] = {:.10}\ngradients[\"dWaa\"][1][2] = {:.10}\ngradients[\"dba\"][4] = [{:.8}]",
        g["dWax"][[3, 1]],
        g["dWaa"][[1, 2]],
        g["dba"][[4, 0]]
    );

    println!("\n== rnn_backward ==");
    let mut r = replay::rnn_seq(true);
    let x = r.x.unwrap();
    let (_, _, caches) = rnn_forward(x.view(), r.inputs["a0"].view(), &r.parameters)?;
    let da = randn3(&mut r.rng, 5, 10, 4);
    let g = rnn_backward(da.view(), &caches)?;
    println!(
        "gradients[\"dx\"][1][2] = {}\ngradients[\"dx\"].shape = {:?}",
        row(g["dx"].slice(s![1, 2, ..])),
        g["dx"].shape()
    );
    println!("gradients[\"da0\"][2][3] = {:.10}\ngradients[\"dWax\"][3][1] = {:.10}\ngradients[\"dWaa\"][1][2] = {:.10}\ngradients[\"dba\"][4] = [{:.8}]", g["da0"][[2, 3]], g["dWax"][[3, 1]], g["dWaa"][[1, 2]], g["dba"][[4, 0]]);

    println!("\n== lstm_cell_forward ==");
    let r = replay::lstm_cell();
    let (a_next, c_next, yt, cache) =
        lstm_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), r.inputs["c_prev"].view(), &r.parameters)?;
    println!("a_next[4] = {}\nc_next[2] = {}\nyt[1] = {}", row(a_next.row(4)), row(c_next.row(2)), row(yt.row(1)));
    println!("cache[1][3] = {}", row(cache.c_next.row(3)));

    println!("\n== lstm_forward ==");
    let r = replay::lstm_seq();
    let x = r.x.unwrap();
    let (a, y, c, caches) = lstm_forward(x.view(), r.inputs["a0"].view(), &r.parameters)?;
    println!(
        "a[4][3][6] = {:.12}\na.shape = {:?}\ny[1][4][3] = {:.11}\ny.shape = {:?}",
        a[[4, 3, 6]],
        a.shape(),
        y[[1, 4, 3]],
        y.shape()
    );
    println!(
        "caches[1][1][1] = {}\nc[1][2][1] = {:.12}\nlen(caches) = 2 ({} steps)",
        row(caches.x.slice(s![1, 1, ..])),
        c[[1, 2, 1]],
        caches.caches.len()
    );

    println!("\n== lstm_cell_backward ==");
    let mut r = replay::lstm_cell();
    let (_, _, _, cache) =
        lstm_cell_forward(r.inputs["xt"].view(), r.inputs["a_prev"].view(), r.inputs["c_prev"].view(), &r.parameters)?;
    let (da, dc) = (randn2(&mut r.rng, 5, 10), randn2(&mut r.rng, 5, 10));
    let g = lstm_cell_backward(da.view(), dc.view(), &cache)?;
    print_lstm_grads(&g, "dxt", "da_prev");
    println!("gradients[\"dc_prev\"][2][3] = {:.10}", g["dc_prev"][[2, 3]]);

    println!("\n== lstm_backward ==");
    // The course's cell: no Wy, by drawn (zeros); lstm_forward over 7 steps; da (5, 10, 4); the
    // backward takes T_x = 4 from da and walks back from caches[3].
    let mut r = replay::lstm_backward_seq();
    let x = r.x.unwrap();
    let (_, _, _, caches) = lstm_forward(x.view(), r.inputs["a0"].view(), &r.parameters)?;
    let da = randn3(&mut r.rng, 5, 10, 4);
    let g = lstm_backward(da.view(), &caches)?;
    println!(
        "gradients[\"dx\"][1][2] = {}\ngradients[\"dx\"].shape = {:?}",
        row(g["dx"].slice(s![1, 2, ..])),
        g["dx"].shape()
    );
    print_lstm_grads(&g, "dx", "da0");
    // The course's earlier versions printed other values: those of a backward that never carries
    // da_prev and dc_prev to the earlier step (scripts/course_reference.py shows the match).
    let zeros = Array2::<f64>::zeros((5, 10));
    let (mut dx, mut da0, mut dwf, mut dbf) = (Array2::<f64>::zeros((3, 4)), 0.0, 0.0, 0.0);
    for t in (0..4).rev() {
        let gt = lstm_cell_backward(da.slice(s![.., .., t]), zeros.view(), &caches.caches[t])?;
        dx.column_mut(t).assign(&gt["dxt"].slice(s![.., 2]));
        dwf += gt["dWf"][[3, 1]];
        dbf += gt["dbf"][[4, 0]];
        if t == 0 {
            da0 = gt["da_prev"][[2, 3]];
        }
    }
    println!("the course's earlier printed values are the mistake of not carrying da_prev and dc_prev back:");
    println!(
        "  that backward gives dx[1][2] = {}, da0[2][3] = {da0:.12}, dWf[3][1] = {dwf:.13}, dbf[4] = [{dbf:.7}]",
        row(dx.row(1))
    );
    println!("  as printed there:   dx[1][2] = [-0.00173313 0.08287442 -0.30545663 -0.43281115], da0[2][3] = -0.095911501954, dWf[3][1] = -0.0698198561274, dbf[4] = [-0.0565788]");
    println!("  it agrees with the true gradient only at the last step (t = 3).");
    Ok(())
}

fn print_lstm_grads(g: &Grads, dx: &str, da: &str) {
    if g[dx].ndim() == 2 {
        println!("gradients[\"{dx}\"][1][2] = {:.10}\ngradients[\"{dx}\"].shape = {:?}", g[dx][[1, 2]], g[dx].shape());
    }
    println!("gradients[\"{da}\"][2][3] = {:.10}", g[da][[2, 3]]);
    for w in ["dWf", "dWi", "dWc", "dWo"] {
        let (i, j) = if w == "dWf" || w == "dWc" { (3, 1) } else { (1, 2) };
        println!("gradients[\"{w}\"][{i}][{j}] = {:.10}", g[w][[i, j]]);
    }
    for b in ["dbf", "dbi", "dbc", "dbo"] {
        println!("gradients[\"{b}\"][4] = [{:.8}]", g[b][[4, 0]]);
    }
}
