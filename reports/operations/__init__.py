"""Operations: running the stages for an operator. One run (the pipeline), the scheduler, the backfill of past
days, ``report check``, the job's own metrics and the logs.

The top of the stack: may use every stage; only the command line uses it.
"""
