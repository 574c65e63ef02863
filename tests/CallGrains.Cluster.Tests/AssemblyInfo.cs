// Every class here that starts real processes (a redis-server, three hosts, nginx) needs the machine to itself: xunit
// runs test classes in parallel by default, and Restarting_every_silo_keeps_users_tokens_and_ongoing_calls once failed
// with "the cluster did not form" because LoadBalancerTests' hosts were starting beside it on two shared cores. One
// switch for the whole assembly, so a class added later (ChaosTests, ...) runs alone without having to opt in; the
// cheap DeployFilesTests lose nothing by waiting their turn.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
