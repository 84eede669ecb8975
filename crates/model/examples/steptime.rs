use candle_core::{Device, Tensor, Var};
use sculpt_model::*;
use std::time::Instant;
fn main() {
    let mut m = load_model("builtin:demo-cnn").unwrap();
    let mut vars = vec![];
    for node in m.graph.nodes_mut() {
        let roles: Vec<&'static str> = node.op.weights().iter().filter(|w| w.trainable).map(|w| w.role).collect();
        for role in roles { if let Some(t) = node.op.weight_mut(role) { let v = Var::from_tensor(t).unwrap(); *t = v.as_tensor().clone(); vars.push(v);} }
    }
    let x = Tensor::rand(0f32, 1., (64, 1, 28, 28), &Device::Cpu).unwrap();
    for train in [false, true] {
        let mut tf = 0.0; let mut tb = 0.0;
        for _ in 0..10 {
            let s = Instant::now();
            let out = m.graph.forward_with(&Batch::Dense(x.clone()), &ForwardOptions { train, capture: vec![] }).unwrap();
            let l = out.output.sqr().unwrap().sum_all().unwrap();
            tf += s.elapsed().as_secs_f64();
            let s = Instant::now();
            let _g = l.backward().unwrap();
            tb += s.elapsed().as_secs_f64();
        }
        println!("train={train}: fwd {:.1} ms, bwd {:.1} ms", tf * 100.0, tb * 100.0);
    }
}
