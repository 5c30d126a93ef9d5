"""One module per verb (train, evaluate, predict, check, export); tailor.api re-exports them."""
