"""The sales example's plain-Python logic: cleaning orders and customers, the summary."""
