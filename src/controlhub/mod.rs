//! The Control Hub REST client.
