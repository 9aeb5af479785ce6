//! The shape every AWS service's errors take here: an enum with one variant per exception,
//! carrying the message, whose wire name and HTTP status are decided in the one table
//! that declares it, with a constructor per variant.

/// Declares such an enum: `Variant => constructor, "WireName", STATUS;` per exception,
/// `STATUS` naming an `http::StatusCode` constant.
macro_rules! aws_error_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($variant:ident => $fn_name:ident, $code:literal, $status:ident;)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $($variant(String),)*
        }

        impl $name {
            $(
                pub fn $fn_name(message: impl Into<String>) -> $name {
                    $name::$variant(message.into())
                }
            )*

            /// The name clients match on, e.g. `NotFoundException`.
            pub fn code(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $code,)*
                }
            }

            pub fn status(&self) -> http::StatusCode {
                match self {
                    $($name::$variant(_) => http::StatusCode::$status,)*
                }
            }

            pub fn message(&self) -> &str {
                match self {
                    $($name::$variant(m) => m,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}: {}", self.code(), self.message())
            }
        }

        impl std::error::Error for $name {}
    };
}

pub(crate) use aws_error_enum;
