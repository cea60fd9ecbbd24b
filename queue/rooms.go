package queue

// ParseRooms parses a rooms file (YAML, see SPEC "Rooms file") and checks
// every room; the error names every problem found, with the room and field.
// Durations and rates left out take the defaults given in def.
func ParseRooms(data []byte, def Room) ([]Room, error) {
	panic("TODO(queue)")
}

// ValidName reports whether name is a valid room name ([a-z0-9-]{1,32}).
func ValidName(name string) bool {
	panic("TODO(queue)")
}
