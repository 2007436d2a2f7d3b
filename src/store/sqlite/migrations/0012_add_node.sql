-- Start-up recovery limited to this node's own work (issue 22): the node that opened an association
-- and the node holding a job's lease. A restarting gateway closes only its own open associations,
-- requeues only the jobs it held, and checks only its own instances not yet durable; another node's
-- running job is left to its lease (reaped once expired). NULL: recorded before this migration,
-- when one process was all there was; recovery treats such rows as its own.
ALTER TABLE associations ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN lease_node TEXT;
