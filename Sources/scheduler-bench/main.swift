// scheduler-bench [NODES] [PODS]: the scheduling algorithm in-process (hack/bench/scheduler.sh).
import Scheduler

let args = CommandLine.arguments
let nodes = args.count > 1 ? Int(args[1]) ?? 5000 : 5000
let pods = args.count > 2 ? Int(args[2]) ?? 10000 : 10000
let r = SchedulerBenchmark.run(nodes: nodes, pods: pods)
print("in-process: \(nodes) nodes, \(pods) pods: \(r.scheduled) scheduled, \(r.unschedulable) unschedulable in \(String(format: "%.3f", r.seconds)) s = \(Int(r.podsPerSecond)) pods/s")
