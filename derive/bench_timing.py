"""How every benchmark table times its steps: short turns taken in alternation, round after
round, the fastest kept, so the drifts of a shared machine hit every contender alike."""

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
