using BenchmarkDotNet.Running;

// Runs the benchmarks chosen on the command line (or asks which), e.g.
//   dotnet run -c Release --project bench/Cybexp.Report.Bench -- --filter '*Canonical*'
if (args.Length > 0 && args[0] == "threatrank-latency")
{
    // Quick latency figures without BenchmarkDotNet: [events] [targets].
    Cybexp.Report.Bench.ThreatRankLatency.Run(args[1..]);
    return;
}

if (args.Length > 0 && args[0] == "worker-throughput")
{
    // Whole-system load run through the worker: [--queries N] [--store S].
    await Cybexp.Report.Bench.WorkerThroughputBenchmark.RunAsync(args[1..]).ConfigureAwait(false);
    return;
}

if (args.Length > 0 && args[0] == "ingest")
{
    // Ingest throughput, memory and store size: [--events N] [--store postgres:…] [--seed S] [--batch B].
    await Cybexp.Report.Bench.IngestBenchmark.RunAsync(args[1..], CancellationToken.None);
    return;
}

if (args.Length > 0 && args[0] == "engines")
{
    // Report latency through the pipeline on generated data: [--events N] [--queries Q] [--store S].
    await Cybexp.Report.Bench.EngineLatencyBenchmark.RunAsync(args[1..], CancellationToken.None);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
