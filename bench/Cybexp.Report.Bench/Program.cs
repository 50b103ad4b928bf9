using BenchmarkDotNet.Running;

// Runs the benchmarks chosen on the command line (or asks which), e.g.
//   dotnet run -c Release --project bench/Cybexp.Report.Bench -- --filter '*Canonical*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
