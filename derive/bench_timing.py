"""How every benchmark table times its steps: short turns taken in alternation, round after
round, the fastest kept, so the drifts of a shared machine hit every contender alike."""

import ctypes
import ctypes.util

CHUNK = 0.005  # seconds of steps timed at a go: short, so rounds alternate often


def fastest_ms(timers, rounds, number=None):
    """ms per step of each of `timers` (name → a timeit.Timer of one step, whose setup runs
    before each turn): the fastest of `rounds` rounds, each timing every one once, for
    `number` steps in a row or as many as take about CHUNK. Each round starts one contender
    later than the one before, so that none always follows the same other: a turn pays for
    what the turn before it left in the caches (a PyTorch step slowed the numpy step after it
    by 4%)."""
    numbers = {who: number or max(1, round(timer.autorange()[0] * CHUNK / 0.2))
               for who, timer in timers.items()}  # autorange: steps that take ≥ 0.2 s
    best = {who: float("inf") for who in timers}
    order = list(timers)
    for turn in range(rounds):
        for who in order[turn % len(order):] + order[:turn % len(order)]:
            best[who] = min(best[who], timers[who].timeit(numbers[who]) / numbers[who])
    return {who: seconds * 1e3 for who, seconds in best.items()}


def steady_allocator():
    """Fix glibc's allocator for the run, so a step's time is its arithmetic and not how the
    allocator happens to have tuned itself: arrays up to 32 MB come from the heap, which is
    not trimmed. By default glibc maps large arrays afresh and gives them back, adjusting
    its threshold as it goes, and a step that makes large temporaries can pay a page fault
    for each of their pages: the hand-written lenet step at N=256 took 3.0 ms in one process
    and 0.72 in another (390,000 page faults against 28,000). Returns what it did, for the
    run's heading; elsewhere than glibc it does nothing."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    mallopt = getattr(libc, "mallopt", None)
    # M_TRIM_THRESHOLD = −1, M_MMAP_THRESHOLD = −3 (malloc.h); 32 MB is the most it takes
    if mallopt is None or not (mallopt(-3, 32 << 20) and mallopt(-1, 1 << 30)):
        return "the allocator as it is"
    return "glibc's allocator fixed (arrays up to 32 MB from the heap, not trimmed)"
