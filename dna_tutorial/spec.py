"""The tutorial's constants, written once for both ports.

Everything here is plain Python: the alphabet and its channel order, the points each
nucleotide scores, the motif bonuses, the score groups used by the classifier of
footnote 2, and the defaults of the tutorial notebook. ``reference_torch`` and
``jax_impl`` both import from this module, so the two ports cannot drift apart.
"""

from __future__ import annotations

# --- Alphabet -------------------------------------------------------------------------
#: One-hot channel order: channel 0 is A, 1 is C, 2 is G, 3 is T.
ALPHABET = "ACGT"
#: The notebook's one-hot encoder also accepts N (unknown base) as an all-zero row.
UNKNOWN_BASE = "N"

# --- Step 1: the synthetic scoring rule -----------------------------------------------
#: Points per nucleotide; a sequence's base score is the mean over its letters.
NUCLEOTIDE_POINTS = {"A": 20, "C": 17, "G": 14, "T": 11}
#: Bonus added once if the motif occurs anywhere in the sequence (not per occurrence).
MOTIF_BONUSES = {"TAT": 10, "GCG": -10}
#: Score arithmetic, identical in both ports: ``float32(points_sum + L * bonus) * float32(1/L)``,
#: an exact integer numerator times the float32 reciprocal of the length, so one rounding.
#: (XLA turns ``x / L`` into ``x * (1/L)`` and fuses ``mean + bonus`` into an FMA; this form
#: leaves it nothing to rewrite.) For the tutorial's 8-mers 1/8 is exact: the plain mean.
#: Length of the tutorial's k-mers: all 4**8 = 65,536 of them are scored.
KMER_LENGTH = 8

# --- Footnote 2: the score groups as classes ------------------------------------------
#: Letter means lie in [11, 20]: a GCG pushes a score below 10, a TAT above 20, and both
#: together cancel. These edges therefore recover the three groups of the histogram.
CLASS_EDGES = (10.0, 20.0)
CLASS_NAMES = ("low (GCG)", "middle (no motif)", "high (TAT)")

# --- The tutorial notebook's defaults --------------------------------------------------
SEED = 17
SPLIT_FRAC = 0.8  # applied twice: 64% train, 16% validation, 20% test
BATCH_SIZE = 128
LEARNING_RATE = 0.01
EPOCHS = 50
PATIENCE = 1000  # early stopping on validation loss; the notebook's default never triggers
NUM_FILTERS = 32
KERNEL_SIZE = 3
#: A filter position counts towards the filter's PWM when its conv output exceeds this.
ACT_THRESH = 1.0
#: How many randomly chosen sequences feed the activation-based PWMs.
NUM_LOGO_SEQS = 3000

#: The notebook's spot checks: a few hand-picked sequences per kind.
SPOT_CHECKS: dict[str, tuple[str, ...]] = {
    "poly-X": ("AAAAAAAA", "CCCCCCCC", "GGGGGGGG", "TTTTTTTT"),
    "other": ("AACCAACA", "CCGGTGAG", "GGGTAAGG", "TTTCGTTT"),
    "with TAT": ("TATAAAAA", "CCTATCCC", "GTATGGGG", "TTTATTTT"),
    "with GCG": ("AAGCGAAA", "CGCGCCCC", "GGGCGGGG", "TTGCGTTT"),
    "TAT and GCG": ("GCGTATAA", "TATGCGCC", "GGTATGCG", "TGCGTTAT"),
}

# --- The second lesson: a deeper CNN with state ---------------------------------------
#: Convolution blocks as (filters, kernel width, max-pool size): conv -> BatchNorm -> ReLU
#: -> max-pool -> dropout. Padded 'same', so only the pools shorten the sequence: L=8
#: gives 2 positions, L=200 gives 50.
DEEP_BLOCKS = ((32, 7, 2), (64, 5, 2))
#: Hidden dense layers after the blocks (dense -> BatchNorm -> ReLU -> dropout).
DEEP_DENSE = (128,)
#: Dropout after each convolution block, and after each hidden dense layer.
DEEP_DROPOUT = (0.1, 0.3)
#: AdamW as torch defaults it (weight decay 1e-2), a learning rate for it, and the
#: schedule: linear warm-up over the first epochs, then a cosine down to 0 at the last.
ADAMW_LR = 1e-3
WEIGHT_DECAY = 1e-2
WARMUP_EPOCHS = 1
SCHEDULE = "cosine"  # after the warm-up (or "constant")
#: Sequences `explain` attributes unless told otherwise (ISM runs 4 L mutants of each).
MAX_EXPLAINED = 1000

# --- Work in batches: each port's default rows per model call ---------------------------
#: Predictions. The command line sizes them from memory (``dna_tutorial.memory``).
PREDICT_BATCH_SIZE = 8192
#: ISM's mutants (4 per position) and saliency's sequences: an 8-mer's 32 mutants, and
#: every position of sequences up to 256 nt, run as one call.
ATTRIBUTION_BATCH_SIZE = 1024
#: Sequences per conv call for the filter logos: for 10,000-nt sequences and 32 filters,
#: the conv output of 256 of them is 330 MB; of all 3,000 logo sequences, 3.8 GB.
FILTER_BATCH_SIZE = 256
