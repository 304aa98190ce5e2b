"""Style control: how much of a leaderboard is the judge's taste for long, formatted answers.

features: what is measured of each answer (length, headers, lists, bold, code blocks); data: those features
for the matches of a results store, as normalised differences; fit: Bradley-Terry with style covariates and
the judge's length preference; batched: the fit in numpy, resamples together (small inputs); kernels: the
compiled Newton and bootstrap passes (large ones)."""
