"""Where rows come from besides plain files: code repositories and Lean proofs."""
