"""Every write of quarterly reporting has its home here, by topic: periods, submissions (values and
narratives), workflow (state changes), evidence. The API, the web form and the XLSX upload all call
these functions; none of them writes on its own."""
