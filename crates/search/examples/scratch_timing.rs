#[path = "../tests/support/mod.rs"]
mod support;
use sculpt_search::*;
fn cpu() -> f64 { std::fs::read_to_string("/proc/thread-self/schedstat").unwrap().split_whitespace().next().unwrap().parse::<f64>().unwrap() * 1e-9 }
fn main() {
    let objective = AdditiveObjective::new(support::synthetic_mobilenet_problem(1, 50)).unwrap();
    let space = objective.space().clone();
    for _ in 0..3 {
        let t = cpu();
        let r = Executor::new(&objective, space.clone(), Nsga2::default(), ExecutorConfig::new(10_000, 1)).unwrap().run().unwrap();
        println!("executor {:.2} ms front {}", (cpu() - t) * 1e3, r.front.len());
    }
    let engine = Nsga2::default();
    for _ in 0..3 {
        let t = cpu();
        let mut problem = Problem::standalone(&objective, &space, 1, 10_000);
        let mut state = Default::default();
        while problem.remaining_evaluations() > 0 { state = engine.step(&mut problem, state).unwrap().0; }
        println!("standalone {:.2} ms", (cpu() - t) * 1e3);
    }
    let genomes: Vec<Vec<usize>> = (0..10_000).map(|i| (0..50).map(|g| (i * 7 + g * 13) % 20).collect()).collect();
    let t = cpu();
    let mut s = 0.0;
    for g in &genomes { s += objective.evaluate(g).objectives[0]; }
    println!("10k evaluations alone {:.2} ms ({s})", (cpu() - t) * 1e3);
}
