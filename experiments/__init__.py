"""Published results reproduced with both ports (``dna-tutorial reproduce``)."""
