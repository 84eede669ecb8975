//! The executor: determinism, checkpoints and resume, stop flag, budgets, observers, errors.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sculpt_search::{
    AdditiveObjective, BayesianSearch, Checkpoint, CheckpointSink, Engine, Evaluation, Executor,
    ExecutorConfig, ExhaustiveSearch, Mutation, Nsga2, Objective, Observer, Progress, RandomSearch,
    SearchError, SearchResult, Space, TerminationReason,
};
use support::{
    DiscreteZdt1, brute_force_front, random_additive_problem, sort_dedup,
    synthetic_mobilenet_problem,
};

/// Keeps the last checkpoint, passed through JSON as a caller that stores it in a file would,
/// and counts the saves.
#[derive(Clone, Default)]
struct MemorySink {
    last: Rc<RefCell<Option<Checkpoint>>>,
    saves: Rc<RefCell<usize>>,
}

impl CheckpointSink for MemorySink {
    fn save(&mut self, checkpoint: &Checkpoint) -> Result<(), String> {
        let json = serde_json::to_string(checkpoint).map_err(|e| e.to_string())?;
        let back: Checkpoint = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        assert_eq!(&back, checkpoint, "a checkpoint survives JSON exactly");
        *self.last.borrow_mut() = Some(back);
        *self.saves.borrow_mut() += 1;
        Ok(())
    }
}

impl MemorySink {
    fn take(&self) -> Checkpoint {
        self.last.borrow_mut().take().expect("a checkpoint was saved")
    }
}

struct FailingSink;

impl CheckpointSink for FailingSink {
    fn save(&mut self, _: &Checkpoint) -> Result<(), String> {
        Err("disk full".into())
    }
}

fn run<O: Objective, E: Engine<O>>(
    objective: &O,
    space: &Space,
    engine: E,
    config: ExecutorConfig,
) -> SearchResult {
    Executor::new(objective, space.clone(), engine, config).unwrap().run().unwrap()
}

/// Everything that must be identical between two runs that should be the same run.
fn fingerprint(result: &SearchResult) -> String {
    let archive: Vec<_> =
        result.archive.iter().map(|c| (&c.genome, &c.evaluation, c.index, c.step)).collect();
    let history: Vec<_> = result
        .history
        .iter()
        .map(|h| (h.step, h.evaluations, h.front_size, h.hypervolume))
        .collect();
    serde_json::to_string(&(
        &result.front.iter().map(|c| &c.genome).collect::<Vec<_>>(),
        archive,
        history,
    ))
    .unwrap()
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn same_seed_gives_the_same_run_whatever_the_thread_count() {
    let objective = AdditiveObjective::new(synthetic_mobilenet_problem(1, 30)).unwrap();
    let space = objective.space().clone();
    // A slow-ish objective whose batches really run in parallel (the additive one evaluates
    // small batches serially).
    let zdt = DiscreteZdt1 { n_genes: 12, n_choices: 9 };
    for threads in [2, 3] {
        let nsga = |t| {
            in_pool(t, || run(&objective, &space, Nsga2::default(), ExecutorConfig::new(1_500, 9)))
        };
        assert_eq!(fingerprint(&nsga(1)), fingerprint(&nsga(threads)));
        let random = |t| {
            in_pool(t, || {
                run(&zdt, &zdt.space(), RandomSearch::default(), ExecutorConfig::new(500, 4))
            })
        };
        assert_eq!(fingerprint(&random(1)), fingerprint(&random(threads)));
        let nsga_zdt = |t| {
            in_pool(t, || run(&zdt, &zdt.space(), Nsga2::default(), ExecutorConfig::new(800, 4)))
        };
        assert_eq!(fingerprint(&nsga_zdt(1)), fingerprint(&nsga_zdt(threads)));
        // The Bayesian engine predicts its candidate pool in parallel.
        let bayes = |t| {
            in_pool(t, || {
                run(&zdt, &zdt.space(), BayesianSearch::default(), ExecutorConfig::new(40, 4))
            })
        };
        assert_eq!(fingerprint(&bayes(1)), fingerprint(&bayes(threads)));
    }
    // And a different seed gives a different run (the fingerprint is not trivially constant).
    let other = run(&objective, &space, Nsga2::default(), ExecutorConfig::new(1_500, 10));
    assert_ne!(
        fingerprint(&other),
        fingerprint(&run(&objective, &space, Nsga2::default(), ExecutorConfig::new(1_500, 9)))
    );
}

/// Sets the stop flag once the search has done `after_steps` steps.
struct StopAfter {
    flag: Arc<AtomicBool>,
    after_steps: usize,
}

impl Observer for StopAfter {
    fn observe(&mut self, progress: &Progress<'_>) {
        if progress.entry.step >= self.after_steps {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn stop_flag_interrupts_and_resume_ends_with_the_same_front() {
    let objective = AdditiveObjective::new(synthetic_mobilenet_problem(2, 20)).unwrap();
    let space = objective.space().clone();
    let engine = Nsga2 {
        population_size: 40,
        mutation: Mutation::Neighbour { max_step: 3 },
        ..Nsga2::default()
    };
    let uninterrupted = run(&objective, &space, engine.clone(), ExecutorConfig::new(2_000, 5));
    assert_eq!(uninterrupted.termination, TerminationReason::BudgetExhausted);
    assert_eq!(uninterrupted.archive.len(), 2_000);

    let sink = MemorySink::default();
    let flag = Arc::new(AtomicBool::new(false));
    let config = ExecutorConfig { stop_flag: Some(flag.clone()), ..ExecutorConfig::new(2_000, 5) };
    let interrupted = Executor::new(&objective, space.clone(), engine.clone(), config)
        .unwrap()
        .checkpoint_to(300, sink.clone())
        .unwrap()
        .add_observer(StopAfter { flag: flag.clone(), after_steps: 17 })
        .run()
        .unwrap();
    assert_eq!(interrupted.termination, TerminationReason::Interrupted);
    assert_eq!(interrupted.steps, 17, "stops right after the step that set the flag");
    assert!(interrupted.archive.len() < 2_000);
    // Periodic saves every 300 evaluations plus the final one.
    assert_eq!(*sink.saves.borrow(), interrupted.archive.len() / 300 + 1);
    let checkpoint = sink.take();
    assert_eq!(checkpoint.evaluations(), interrupted.archive.len());

    let resume = |checkpoint: Checkpoint, config: ExecutorConfig, engine: Nsga2| {
        Executor::new(&objective, space.clone(), engine, config).unwrap().resume(checkpoint)
    };
    let resumed =
        resume(checkpoint.clone(), ExecutorConfig::new(2_000, 5), engine.clone()).unwrap();
    assert_eq!(resumed.termination, TerminationReason::BudgetExhausted);
    assert_eq!(fingerprint(&resumed), fingerprint(&uninterrupted));

    // A periodic checkpoint in the middle of a run resumes to the same end too.
    let periodic = MemorySink::default();
    Executor::new(&objective, space.clone(), engine.clone(), ExecutorConfig::new(1_000, 5))
        .unwrap()
        .checkpoint_to(500, periodic.clone())
        .unwrap()
        .run()
        .unwrap();
    let resumed = resume(periodic.take(), ExecutorConfig::new(2_000, 5), engine.clone()).unwrap();
    assert_eq!(fingerprint(&resumed), fingerprint(&uninterrupted));

    // Resuming with another seed, engine configuration or engine is refused.
    let mismatch = |result: Result<SearchResult, SearchError>, expected: &str| match result {
        Err(SearchError::CheckpointMismatch { field }) => assert_eq!(field, expected),
        other => panic!("expected a mismatch on {expected}, got {other:?}"),
    };
    mismatch(resume(checkpoint.clone(), ExecutorConfig::new(2_000, 6), engine.clone()), "seed");
    let other_engine = Nsga2 { population_size: 41, ..engine.clone() };
    mismatch(
        resume(checkpoint.clone(), ExecutorConfig::new(2_000, 5), other_engine),
        "engine configuration",
    );
    mismatch(
        Executor::new(
            &objective,
            space.clone(),
            RandomSearch::default(),
            ExecutorConfig::new(2_000, 5),
        )
        .unwrap()
        .resume(checkpoint),
        "engine",
    );

    // A sink that cannot save stops the search with its message.
    let failed = Executor::new(&objective, space, engine, ExecutorConfig::new(2_000, 5))
        .unwrap()
        .checkpoint_to(300, FailingSink)
        .unwrap()
        .run();
    match failed {
        Err(SearchError::CheckpointSave { msg }) => assert_eq!(msg, "disk full"),
        other => panic!("expected a save error, got {:?}", other.map(|r| r.termination)),
    }
}

#[test]
fn a_flag_set_before_the_start_returns_an_empty_interrupted_result() {
    let objective = random_additive_problem(1, 4, 3, 2, false);
    let config = ExecutorConfig {
        stop_flag: Some(Arc::new(AtomicBool::new(true))),
        ..ExecutorConfig::new(100, 0)
    };
    let result = run(&objective, &objective.space().clone(), Nsga2::default(), config);
    assert_eq!(result.termination, TerminationReason::Interrupted);
    assert!(result.archive.is_empty() && result.front.is_empty());
}

#[test]
fn budgets_and_space_exhaustion_are_reported() {
    let objective = random_additive_problem(3, 5, 5, 2, false);
    let space = objective.space().clone();
    let size = space.size().unwrap() as usize;
    assert!(size > 20, "the space must need several steps");
    let expected_front = brute_force_front(&objective, &space);
    for (name, result) in [
        (
            "random",
            run(&objective, &space, RandomSearch { batch_size: 7 }, ExecutorConfig::new(10_000, 1)),
        ),
        (
            "nsga2",
            run(
                &objective,
                &space,
                Nsga2 { population_size: 10, ..Nsga2::default() },
                ExecutorConfig::new(10_000, 1),
            ),
        ),
        (
            "exhaustive",
            run(
                &objective,
                &space,
                ExhaustiveSearch { batch_size: 5, ..Default::default() },
                ExecutorConfig::new(10_000, 1),
            ),
        ),
    ] {
        assert_eq!(result.termination, TerminationReason::SpaceExhausted, "{name}");
        assert_eq!(result.archive.len(), size, "{name}: every genome exactly once");
        let mut genomes: Vec<&Vec<usize>> = result.archive.iter().map(|c| &c.genome).collect();
        genomes.sort();
        genomes.dedup();
        assert_eq!(genomes.len(), size, "{name}: no genome evaluated twice");
        let mut front: Vec<Vec<f64>> =
            result.front.iter().map(|c| c.evaluation.objectives.clone()).collect();
        sort_dedup(&mut front);
        assert_eq!(front, expected_front, "{name}");
    }
    let zdt = DiscreteZdt1 { n_genes: 5, n_choices: 4 };
    let result = run(&zdt, &zdt.space(), RandomSearch::default(), ExecutorConfig::new(5, 1));
    assert_eq!((result.termination, result.archive.len()), (TerminationReason::BudgetExhausted, 5));
    let slow = SlowObjective;
    let config = ExecutorConfig {
        max_wall_time: Some(Duration::from_millis(30)),
        ..ExecutorConfig::new(1_000_000, 1)
    };
    let slow_space = Space::from_choice_counts(&[100; 4]).unwrap();
    let result = run(&slow, &slow_space, RandomSearch { batch_size: 1 }, config);
    assert_eq!(result.termination, TerminationReason::TimeLimit);
    assert!(result.archive.len() < 1_000);
}

struct SlowObjective;

impl Objective for SlowObjective {
    fn n_objectives(&self) -> usize {
        1
    }
    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        std::thread::sleep(Duration::from_millis(2));
        Evaluation::feasible(vec![genome.iter().sum::<usize>() as f64])
    }
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let objective = random_additive_problem(4, 4, 3, 2, false);
    let space = objective.space().clone();
    let build =
        |config| Executor::new(&objective, space.clone(), Nsga2::default(), config).map(|_| ());
    assert!(matches!(
        build(ExecutorConfig::new(0, 1)),
        Err(SearchError::InvalidConfig { parameter: "max_evaluations", .. })
    ));
    let zero_time =
        ExecutorConfig { max_wall_time: Some(Duration::ZERO), ..ExecutorConfig::new(10, 1) };
    assert!(matches!(build(zero_time), Err(SearchError::InvalidConfig { .. })));
    let zero_checkpoint =
        Executor::new(&objective, space.clone(), Nsga2::default(), ExecutorConfig::new(10, 1))
            .unwrap()
            .checkpoint_to(0, MemorySink::default());
    assert!(matches!(zero_checkpoint, Err(SearchError::InvalidConfig { .. })));

    let seeded = |seed: Vec<usize>| {
        let engine = Nsga2 { initial_population: vec![seed], ..Nsga2::default() };
        Executor::new(&objective, space.clone(), engine, ExecutorConfig::new(10, 1)).unwrap().run()
    };
    assert!(matches!(seeded(vec![0, 0]), Err(SearchError::GenomeLength { expected: 4, found: 2 })));
    assert!(matches!(
        seeded(vec![0, 0, 0, 99]),
        Err(SearchError::ChoiceOutOfRange { gene_index: 3, .. })
    ));
    let tiny_population = Nsga2 { population_size: 1, ..Nsga2::default() };
    let result =
        Executor::new(&objective, space.clone(), tiny_population, ExecutorConfig::new(10, 1))
            .unwrap()
            .run();
    assert!(matches!(result, Err(SearchError::InvalidConfig { parameter: "population_size", .. })));

    let big = Space::from_choice_counts(&[10; 7]).unwrap();
    let zdt = DiscreteZdt1 { n_genes: 7, n_choices: 10 };
    let result = Executor::new(&zdt, big, ExhaustiveSearch::default(), ExecutorConfig::new(10, 1))
        .unwrap()
        .run();
    assert!(matches!(result, Err(SearchError::SpaceTooLarge { cap: 1_000_000, .. })));

    // An objective returning the wrong number of values, or NaN, is reported.
    let result = Executor::new(
        &BrokenObjective,
        Space::from_choice_counts(&[3]).unwrap(),
        RandomSearch::default(),
        ExecutorConfig::new(3, 1),
    )
    .unwrap()
    .run();
    assert!(matches!(result, Err(SearchError::InvalidEvaluation { .. })));
}

struct BrokenObjective;

impl Objective for BrokenObjective {
    fn n_objectives(&self) -> usize {
        2
    }
    fn evaluate(&self, genome: &[usize]) -> Evaluation {
        Evaluation::feasible(vec![genome[0] as f64, f64::NAN])
    }
}

/// Records what it sees, to check the observer protocol.
/// (step, evaluations, front size, hypervolume) of one history entry.
type Seen = (usize, usize, usize, Option<f64>);

struct Recorder(Rc<RefCell<Vec<Seen>>>, Rc<RefCell<bool>>);

impl Observer for Recorder {
    fn observe(&mut self, progress: &Progress<'_>) {
        let e = progress.entry;
        assert_eq!(progress.new_candidates.last().map(|c| c.index + 1), Some(e.evaluations));
        self.0.borrow_mut().push((e.step, e.evaluations, e.front_size, e.hypervolume));
    }
    fn finish(&mut self, _result: &SearchResult) {
        *self.1.borrow_mut() = true;
    }
}

#[test]
fn observers_see_every_step_and_the_history_matches() {
    let objective = AdditiveObjective::new(synthetic_mobilenet_problem(3, 10)).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let finished = Rc::new(RefCell::new(false));
    let result = Executor::new(
        &objective,
        objective.space().clone(),
        Nsga2 { population_size: 20, ..Nsga2::default() },
        ExecutorConfig::new(200, 2),
    )
    .unwrap()
    .add_observer(Recorder(seen.clone(), finished.clone()))
    .run()
    .unwrap();
    let seen = seen.borrow();
    assert_eq!(seen.len(), 10, "initial population + 9 generations of 20");
    let history: Vec<_> = result
        .history
        .iter()
        .map(|h| (h.step, h.evaluations, h.front_size, h.hypervolume))
        .collect();
    assert_eq!(*seen, history);
    assert!(*finished.borrow());
    // The hypervolume of the best front can only grow.
    for pair in history.windows(2) {
        assert!(pair[1].3.unwrap() >= pair[0].3.unwrap());
    }
    assert!(result.front.len() == seen.last().unwrap().2);
}

#[test]
fn bayesian_search_resumes_to_the_same_end() {
    let zdt = DiscreteZdt1 { n_genes: 6, n_choices: 7 };
    let space = zdt.space();
    let uninterrupted = run(&zdt, &space, BayesianSearch::default(), ExecutorConfig::new(40, 8));
    let sink = MemorySink::default();
    let flag = Arc::new(AtomicBool::new(false));
    let config = ExecutorConfig { stop_flag: Some(flag.clone()), ..ExecutorConfig::new(40, 8) };
    let interrupted = Executor::new(&zdt, space.clone(), BayesianSearch::default(), config)
        .unwrap()
        .checkpoint_to(1_000, sink.clone())
        .unwrap()
        .add_observer(StopAfter { flag, after_steps: 12 })
        .run()
        .unwrap();
    assert_eq!(interrupted.termination, TerminationReason::Interrupted);
    let resumed = Executor::new(&zdt, space, BayesianSearch::default(), ExecutorConfig::new(40, 8))
        .unwrap()
        .resume(sink.take())
        .unwrap();
    assert_eq!(fingerprint(&resumed), fingerprint(&uninterrupted));
}
