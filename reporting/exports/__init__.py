"""Supervision (督查) reports: the tables a report holds and the writers that lay them out as XLSX, PDF
and CSV. Everything here renders a snapshot's `content` (plain JSON) and touches no database, so a report
regenerated from the same snapshot states the same figures. Building the content is a read
(`reporting.selectors.exports`); storing snapshots and files is a write (`reporting.services.exports`)."""
