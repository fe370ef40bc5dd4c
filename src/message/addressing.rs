//! The WS-Addressing fields of a message that the `header` mediator sets and
//! `get-property()` reads (`From`, `ReplyTo`, `FaultTo`, `MessageID`, `RelatesTo`; `To`
//! and `Action` live in [`MessageContext::to`](super::MessageContext) and the SOAP action).
//!
//! The values come from configuration or from expressions over the client's message, so
//! each is bounded ([`MAX_VALUE`]): a longer one is refused, never stored.

/// The longest value one field holds, in bytes.
pub(crate) const MAX_VALUE: usize = 2048;

/// One WS-Addressing field, by its Synapse name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// `From`: the sender's endpoint reference (its address).
    From,
    /// `ReplyTo`: where replies go (its address).
    ReplyTo,
    /// `FaultTo`: where faults go (its address).
    FaultTo,
    /// `MessageID`: the message's id, when set explicitly.
    MessageId,
    /// `RelatesTo`: the id of the message this one relates to.
    RelatesTo,
}

/// The fields set on one message (unset fields read as the empty string).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Addressing {
    from: Option<String>,
    reply_to: Option<String>,
    fault_to: Option<String>,
    message_id: Option<String>,
    relates_to: Option<String>,
}

/// A value over [`MAX_VALUE`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the WS-Addressing `{field}` value is {len} bytes, more than {max}", max = MAX_VALUE)]
pub(crate) struct TooLong {
    /// The field's name.
    pub(crate) field: &'static str,
    /// The value's length.
    pub(crate) len: usize,
}

impl Field {
    /// The field for a Synapse header or property name, case-sensitive as in Synapse.
    pub(crate) fn named(name: &str) -> Option<Field> {
        Some(match name {
            "From" => Field::From,
            "ReplyTo" => Field::ReplyTo,
            "FaultTo" => Field::FaultTo,
            "MessageID" => Field::MessageId,
            "RelatesTo" => Field::RelatesTo,
            _ => return None,
        })
    }

    /// The Synapse name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Field::From => "From",
            Field::ReplyTo => "ReplyTo",
            Field::FaultTo => "FaultTo",
            Field::MessageId => "MessageID",
            Field::RelatesTo => "RelatesTo",
        }
    }
}

impl Addressing {
    fn slot(&mut self, field: Field) -> &mut Option<String> {
        match field {
            Field::From => &mut self.from,
            Field::ReplyTo => &mut self.reply_to,
            Field::FaultTo => &mut self.fault_to,
            Field::MessageId => &mut self.message_id,
            Field::RelatesTo => &mut self.relates_to,
        }
    }

    /// The field's value, if set.
    pub(crate) fn get(&self, field: Field) -> Option<&str> {
        let value = match field {
            Field::From => &self.from,
            Field::ReplyTo => &self.reply_to,
            Field::FaultTo => &self.fault_to,
            Field::MessageId => &self.message_id,
            Field::RelatesTo => &self.relates_to,
        };
        value.as_deref()
    }

    /// Sets (`Some`) or clears (`None`) a field.
    ///
    /// # Errors
    /// A value longer than [`MAX_VALUE`] bytes (the field keeps its old value).
    pub(crate) fn set(&mut self, field: Field, value: Option<String>) -> Result<(), TooLong> {
        if let Some(v) = &value
            && v.len() > MAX_VALUE
        {
            return Err(TooLong {
                field: field.name(),
                len: v.len(),
            });
        }
        *self.slot(field) = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_set_cleared_and_bounded() {
        let mut a = Addressing::default();
        assert_eq!(a.get(Field::From), None);
        a.set(Field::From, Some("http://client".into())).unwrap();
        assert_eq!(a.get(Field::From), Some("http://client"));
        assert!(a.set(Field::From, Some("x".repeat(MAX_VALUE + 1))).is_err());
        assert_eq!(a.get(Field::From), Some("http://client"));
        a.set(Field::From, None).unwrap();
        assert_eq!(a.get(Field::From), None);
        assert_eq!(Field::named("MessageID"), Some(Field::MessageId));
        assert_eq!(Field::named("To"), None);
    }
}
