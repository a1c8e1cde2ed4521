-- What a user writes on their own experiment: free notes, and labels to find it by (a JSON array of strings).
ALTER TABLE experiments ADD COLUMN notes TEXT;
ALTER TABLE experiments ADD COLUMN labels TEXT;
