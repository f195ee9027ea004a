//! S3: the batch-first SimpleRNN worked example, forward and the backward pass it lacked.
//!
//!     cargo run --example simple_rnn

use ndarray::array;
use recurrent::course::simple_rnn::SimpleRnn;

fn main() -> Result<(), recurrent::Error> {
    // x (batch 1, seq 3, features 2); W_x (features, hidden 4); W_h (4, 4); b (4,); h_0 = 0.
    let x = array![[[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]] / 100.0;
    let w_x = array![[1.0, 3.0, 5.0, 7.0], [3.0, 5.0, 7.0, 8.0]] / 100.0;
    let w_h = array![[1.0, 3.0, 5.0, 7.0], [2.0, 4.0, 6.0, 8.0], [3.0, 5.0, 7.0, 8.0], [4.0, 6.0, 8.0, 10.0]] / 100.0;
    let mut rnn = SimpleRnn::new(w_x.view(), w_h.view(), &[1.0, 1.0, 1.0, 1.0])?;
    let h = rnn.forward(x.view(), ndarray::Array2::zeros((1, 4)).view())?;
    println!("last state h_3 = {h:.8}");
    println!("(expected      [[0.79494228, 0.81839002, 0.83939649, 0.85584174]])");
    // Backward from dL/dh_3 = 1 (L = Σ h_3): the gradient walks back through all three steps.
    let g = rnn.backward(ndarray::Array2::ones((1, 4)).view())?;
    println!("dx   (batch, seq, features) =\n{:.6}", g.dx);
    println!("dh0  (batch, hidden)        = {:.6}", g.dh0);
    println!("dW_x (features, hidden)     =\n{:.6}", g.dw_x);
    println!("dW_h (hidden, hidden)       =\n{:.6}", g.dw_h);
    println!("db   (hidden,)              = {:.6}", g.db);
    Ok(())
}
