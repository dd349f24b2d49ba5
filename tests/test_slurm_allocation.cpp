// The Slurm allocation as parmap reads it from its environment: the task count from
// SLURM_NTASKS, or from the CPUs of SLURM_JOB_CPUS_PER_NODE over SLURM_CPUS_PER_TASK when
// there is none (sbatch without -n), and not from a step's own SLURM_NTASKS.
#include "exec/slurm/allocation.hpp"

#include <doctest/doctest.h>

using parmap::slurm::allocation_of;
using parmap::slurm::count_cpus;

TEST_CASE("slurm: SLURM_JOB_CPUS_PER_NODE's notation")
{
  CHECK(count_cpus("4") == 4);
  CHECK(count_cpus("2(x3),1") == 7);
  CHECK(count_cpus("8(x2),4(x1)") == 20);
  CHECK(count_cpus("") == 0);
  CHECK(count_cpus("x") == 0);
  CHECK(count_cpus("2(x)") == 0);
  CHECK(count_cpus("0") == 0);
}

TEST_CASE("slurm: the allocation from the environment")
{
  CHECK_FALSE(allocation_of({"PATH=/bin", "SLURM_NTASKS=4"}));

  auto a = allocation_of({"SLURM_JOB_ID=12", "SLURM_NTASKS=6", "SLURM_CPUS_PER_TASK=2",
                          "SLURM_JOB_CPUS_PER_NODE=12"});
  REQUIRE(a);
  CHECK(a->job_id == "12");
  CHECK(a->tasks == 6);
  CHECK(a->cpus_per_task == 2);
  CHECK_FALSE(a->in_step);

  // sbatch -c 2 without -n: the CPUs over the CPUs a task needs.
  a = allocation_of({"SLURM_JOB_ID=13", "SLURM_JOB_CPUS_PER_NODE=4(x2)", "SLURM_CPUS_PER_TASK=2"});
  REQUIRE(a);
  CHECK(a->tasks == 4);

  // Inside a step (srun parmap --slurm), SLURM_NTASKS is the step's, not the allocation's.
  a = allocation_of({"SLURM_JOB_ID=14", "SLURM_STEP_ID=0", "SLURM_NTASKS=1",
                     "SLURM_JOB_CPUS_PER_NODE=8"});
  REQUIRE(a);
  CHECK(a->in_step);
  CHECK(a->tasks == 8);

  // Nothing to count from: one task.
  a = allocation_of({"SLURM_JOB_ID=15", "SLURM_NTASKS=junk"});
  REQUIRE(a);
  CHECK(a->tasks == 1);
}
